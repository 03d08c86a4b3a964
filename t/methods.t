#!/usr/bin/perl

# "cluster" judges, the upstream's balancing method chooses: under every
# method of nginx 1.22, with "cluster" before or after it and keepalive
# before or after both, the method's own distribution holds among the
# nodes the cluster lets through, and a drained node gets nothing; under
# each, a node down or with another key gets nothing, and panic routes to
# what is left.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use IO::Socket::INET;
use Time::HiRes qw(sleep);
use ClusterTest qw(http_request);

my $t = ClusterTest->new(workers => 1);

my $shared = '00112233445566778899aabbccddeeff';
my $other = 'ffeeddccbbaa99887766554433221100';

my $token = 'a-token-for-the-methods-test-0123';
$t->secret('key', $shared);
$t->secret('token', $token);

$t->sim('web1', key => $shared);
$t->sim('web2', key => $shared);
$t->sim('web3', key => $other);

my %addr = map { $_ => '127.0.0.1:' . $t->port($_) } qw(web1 web2 web3);
my %bearer = (Authorization => "Bearer $token");

sub config {
    my ($upstream, $extra) = @_;

    $t->write_config(<<"EOF");
    upstream proget {
        server 127.0.0.1:%%PORT_web1%%;
        server 127.0.0.1:%%PORT_web2%%;
        server 127.0.0.1:%%PORT_web3%%;

$upstream
        cluster_heartbeat interval=300ms stale=1m;
        $extra
    }

    server {
        listen 127.0.0.1:%%PORT_http%%;

        location / {
            proxy_pass http://proget;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }

        location /cluster {
            cluster_status admin=on token_file=%%DIR%%/token;
        }
    }
EOF
}

sub post {
    return http_request($t->port('http'), 'POST', $_[0], '', %bearer);
}

# which node serves each path: { path => node }
sub serving {
    my (@paths) = @_;
    my %who;
    for my $p (@paths) {
        my $r = $t->get($p);
        $who{$p} = $r->{status} == 200 ? $r->{headers}{'x-node'}
                                        : "status $r->{status}";
    }
    return \%who;
}

sub count {
    my ($who) = @_;
    my %n;
    $n{$_}++ for values %$who;
    return \%n;
}

my @keys = map { "/log-in?k=$_" } 1 .. 30;

my %methods = (
    round_robin => '',
    least_conn => 'least_conn;',
    hash => 'hash $arg_k;',
    hash_consistent => 'hash $arg_k consistent;',
    ip_hash => 'ip_hash;',
    random => 'random;',
    random_two => 'random two;',
);

# the method's own distribution, with web3 drained and back
sub distribution {
    my ($method, $what) = @_;

    my $before = serving(@keys);
    my $n = count($before);

    if ($method =~ /^hash/) {
        is_deeply(serving(@keys), $before, "$what: the same key, the same node");
        ok(keys %$n >= 2, "$what: keys spread") or diag explain $n;

    } elsif ($method eq 'ip_hash') {
        is(scalar keys %$n, 1, "$what: one client, one node")
            or diag explain $n;

    } else {
        is(scalar keys %$n, 3, "$what: all three serve") or diag explain $n;
    }

    if ($method eq 'least_conn') {
        # a node busy with a slow request: the next go to the idle ones
        $t->sim_control($_, 'delay=1500') for qw(web1 web2 web3);

        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => $t->port('http'),
                                      Proto => 'tcp') or die;
        print $s "GET /slow HTTP/1.1\r\nHost: localhost\r\n"
            . "Connection: close\r\n\r\n";
        sleep 0.3;

        my @next = map { $t->get('/log-in')->{headers}{'x-node'} } 1 .. 2;

        local $/;
        my ($slow) = (<$s> // '') =~ /^X-Node: (\S+)/mi;
        $t->sim_control($_, 'delay=0') for qw(web1 web2 web3);

        ok($slow && !grep({ $_ eq $slow } @next),
           "$what: the busy node gets no new request")
            or diag "slow: " . ($slow // '?') . ", next: @next";
    }

    # drain the node that served the first key, which every method uses
    my $busy = $before->{$keys[0]};
    is(post("/cluster/nodes/$addr{$busy}/drain")->{status}, 200,
       "$what: drain $busy");

    my $after = serving(@keys);
    my $m = count($after);
    is($m->{$busy} // 0, 0, "$what: the drained node gets nothing")
        or diag explain $m;
    ok(!grep({ /status/ } values %$after), "$what: every request served")
        or diag explain $m;

    if ($method =~ /^hash/) {
        my @moved = grep { $before->{$_} ne $busy
                           && $after->{$_} ne $before->{$_} } @keys;
        is(scalar @moved, 0, "$what: only the drained node's keys move")
            if $method eq 'hash_consistent';
        is_deeply(serving(@keys), $after, "$what: and stay where they went");
    }

    is(post("/cluster/nodes/$addr{$busy}/restore")->{status}, 200,
       "$what: restore it");
}

# the zone is the same across these, so each starts from a fresh record
my $zone = 0;

for my $method (sort keys %methods) {
    for my $order ('before', 'after') {
        for my $keepalive ('', 'keepalive 8;') {

            next if $keepalive && $order eq 'after' && $method ne 'least_conn'
                    && $method ne 'round_robin';

            my $cluster = 'cluster zone=m' . $zone++ . ':1m;';
            my $body = $order eq 'before'
                ? "        $cluster\n        $methods{$method}\n"
                : "        $methods{$method}\n        $cluster\n";

            # keepalive goes after the method, as nginx 1.22 needs
            $body .= "        $keepalive\n" if $keepalive;

            config($body, '');
            $t->stop;
            $t->run;

            my $what = "$method, cluster $order"
                       . ($keepalive ? ', keepalive' : '');

            distribution($method, $what);
        }
    }
}

# under each method: down, another key, panic

for my $method (sort keys %methods) {
    config("        cluster zone=k" . $zone++ . ":1m;\n"
           . "        $methods{$method}\n",
           'cluster_check uri=/health rise=1 fall=1;
        cluster_key file=%%DIR%%/key;
        cluster_cookie name=^\.ProGetAuth$ login=^/log-in;');
    $t->stop;
    $t->run;

    ok($t->all_up('proget'), "$method: all up");

    # web3 sets cookies the cluster's key does not open: new keys each
    # time, so that a hashing method sends some of the sign-ins to it
    my $k = 0;
    ok($t->wait_for(sub {
        $t->get('/log-in?k=' . $k++) for 1 .. 6;
        my $n = $t->node('proget', $addr{web3});
        !$n->{in_rotation};
    }, 10), "$method: the node with another key leaves rotation");

    my $n = count(serving(@keys));
    is($n->{web3} // 0, 0, "$method: and gets nothing") or diag explain $n;

    # web2 stops: down, it gets nothing either
    $t->stop_sim('web2');
    ok($t->wait_for(sub {
        $t->node('proget', $addr{web2})->{state} eq 'down';
    }, 5), "$method: a stopped node is down");

    $n = count(serving(@keys));
    is_deeply($n, { web1 => 30 }, "$method: all goes to the one left")
        or diag explain $n;

    # web1 stops too: panic routes to web3, the only one that answers
    $t->stop_sim('web1');
    ok($t->wait_for(sub { $t->cluster('proget')->{panic} }, 5),
       "$method: panic when none is left in rotation");

    $n = count(serving(@keys));
    is($n->{web3} // 0, 30, "$method: panic routes to what is left")
        or diag explain $n;

    $t->sim('web1', key => $shared);
    $t->sim('web2', key => $shared);
}

$t->allow_log(qr/\[alert\].*cluster "proget" is in panic/);

$t->check_logs;

done_testing;
