#!/usr/bin/perl

# The edges of steering the balancing method: a node an operator took out
# is never tried, and giving its try back leaves nginx's own counts as they
# were; backup servers under a method that does not choose among them; a
# way back from the backups to the primaries.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use ClusterTest qw(http_request);

my $t = ClusterTest->new(workers => 1);

my $token = 'a-token-for-the-steering-test-01';
$t->secret('token', $token);

$t->sim($_) for qw(web1 web2 web3);

my %addr = map { $_ => '127.0.0.1:' . $t->port($_) } qw(web1 web2 web3);

$t->write_config(<<'EOF');
    upstream single {
        server 127.0.0.1:%%PORT_web1%% max_conns=1;
        cluster zone=single:1m;
    }

    upstream random_backup {
        server 127.0.0.1:%%PORT_web3%% backup;
        server 127.0.0.1:%%PORT_web1%%;
        server 127.0.0.1:%%PORT_web2%%;
        random;
        cluster zone=random_backup:1m;
    }

    upstream rr_backup {
        server 127.0.0.1:%%PORT_web1%%;
        server 127.0.0.1:%%PORT_web2%%;
        server 127.0.0.1:%%PORT_web3%% backup;
        cluster zone=rr_backup:1m;
    }

    server {
        listen 127.0.0.1:%%PORT_http%%;

        location /single/ { proxy_pass http://single/; }
        location /random/ { proxy_pass http://random_backup/; }
        location /rr/ { proxy_pass http://rr_backup/; }

        location /cluster {
            cluster_status admin=on token_file=%%DIR%%/token;
        }
    }
EOF

$t->run;

sub act {
    my ($what, $node, $cluster) = @_;
    return http_request($t->port('http'), 'POST',
                        "/cluster/nodes/$addr{$node}/$what?cluster=$cluster",
                        '', Authorization => "Bearer $token")->{status};
}

sub serve {
    my ($path, $n) = @_;
    my %seen;
    for (1 .. $n) {
        my $r = $t->get($path);
        $seen{$r->{status} == 200 ? $r->{headers}{'x-node'}
                                  : "status $r->{status}"}++;
    }
    return \%seen;
}

# one server, drained: refused, and restored it serves again (its try was
# given back: no connection left counted against max_conns=1)
is_deeply(serve('/single/', 3), { web1 => 3 }, 'the single server serves');
is(act('drain', 'web1', 'single'), 200, 'drain it');
is_deeply(serve('/single/', 3), { 'status 502' => 3 },
          'drained, it takes nothing, even alone');
is(act('restore', 'web1', 'single'), 200, 'restore it');
is_deeply(serve('/single/', 5), { web1 => 5 },
          'restored, it serves every request again');

# random with a backup written before it: random never moves to the
# backups; the drained primaries get nothing
is(act('drain', 'web1', 'random_backup'), 200, 'random: drain web1');
is(act('drain', 'web2', 'random_backup'), 200, 'random: drain web2');
my $seen = serve('/random/', 10);
ok(!$seen->{web1} && !$seen->{web2},
   'random: the drained primaries get nothing') or diag explain $seen;

# round robin: with both primaries drained the backup serves
is(act('drain', 'web1', 'rr_backup'), 200, 'round robin: drain web1');
is(act('drain', 'web2', 'rr_backup'), 200, 'round robin: drain web2');
is_deeply(serve('/rr/', 6), { web3 => 6 }, 'round robin: the backup serves');
is(act('restore', 'web2', 'rr_backup'), 200, 'round robin: restore web2');
is_deeply(serve('/rr/', 6), { web2 => 6 },
          'round robin: back to the primary');

$t->check_logs;

done_testing;
