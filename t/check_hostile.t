#!/usr/bin/perl

# Hostile or broken nodes: a body over 64 KiB, or a length over it, a slow
# drip, a hang, a reset,
# garbage, invalid JSON, a redirect, markup in the version.  Each is a failed
# or degraded check with a short reason; nginx neither crashes nor stops
# serving, and the markup reaches the status only as escaped text.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use ClusterTest;

my $t = ClusterTest->new(workers => 2);

my %reason = (
    big      => qr/^answer over 64 KiB$/,
    huge     => qr/^answer over 64 KiB$/,
    drip     => qr/^timed out$/,
    hang     => qr/^timed out$/,
    reset    => qr/^(connection reset|empty response)$/,
    garbage  => qr/^invalid status line$/,
    invalid  => qr/^status 200 with invalid JSON$/,
    redirect => qr{^status 302, redirect to /log-in$},
);

my @modes = sort keys %reason;

$t->sim('good');
$t->sim($_) for @modes, 'script';

my $servers = join "\n", map { "        server 127.0.0.1:%%PORT_${_}%%;" }
    'good', @modes, 'script';

$t->write_config(<<"EOF");
    upstream hostile {
$servers

        cluster zone=hostile_cluster:1m;
        cluster_heartbeat interval=300ms stale=1m;
        cluster_check timeout=1s rise=1 fall=2;
    }

    server {
        listen 127.0.0.1:%%PORT_http%%;

        location / {
            proxy_pass http://hostile;
            proxy_next_upstream error timeout http_500;
            proxy_read_timeout 2s;
        }

        location /cluster {
            cluster_status;
        }
    }
EOF

$t->run;

my @pids = `pgrep -P $t->{nginx}`;

$t->sim_control($_, "answer=$_") for @modes, 'script';

sub node { $t->node('hostile', '127.0.0.1:' . $t->port($_[0])) }

ok($t->wait_for(sub {
    !grep { node($_)->{state} ne 'down' } @modes;
}, 15), 'every hostile node goes down')
    or diag explain { map { $_ => node($_)->{state} } @modes };

for my $mode (@modes) {
    my $n = node($mode);
    like($n->{health}{reason}, $reason{$mode}, "$mode: the reason")
        or diag explain $n->{health};
    is($n->{in_rotation}, JSON::PP::false, "$mode: out of rotation");
}

my $good = node('good');
is($good->{state}, 'up', 'the good node is up');

my $s = node('script');
is($s->{state}, 'up', 'a node with markup in its version is up');
is($s->{version}{display}, '<script>alert(1)</script>',
   'its version, as text');
my $raw = $t->get('/cluster')->{body};
ok($raw !~ /<script>/, 'no markup in the status document');
like($raw, qr/\\u003cscript\\u003ealert\(1\)\\u003c\/script\\u003e/,
     'only its escaped form');

# nginx still serves, and no worker died
my %status;
$status{$t->get('/')->{status}}++ for 1 .. 10;
is_deeply(\%status, { 200 => 10 }, 'requests are served meanwhile');

is(join(',', sort `pgrep -P $t->{nginx}`), join(',', sort @pids),
   'the same workers: none crashed');
is($t->count_log(qr/exited on signal/), 0, 'no worker exited on a signal');

$t->check_logs;

done_testing;
