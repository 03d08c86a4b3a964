#!/usr/bin/perl

# keepalive and least_time with "cluster", after nginx-tests'
# upstream_keepalive.t, proxy_keepalive.t and upstream_least_time.t: on
# every nginx, an explicit "keepalive" reuses connections to the nodes
# through the cluster; from 1.29.7 keepalive is on for every explicit
# upstream (and "keepalive 0" turns it off, "local" keeps connections to
# the upstream that opened them); from 1.31.0 least_time chooses by time,
# and forwards its timing through peer.notify, which keepalive wraps too.
# Under each, a node drained by the cluster gets nothing and is back once
# restored, and the connections to the backends are HTTP/1.1. nginx serves
# as its own backends, each saying its port and how many requests its
# connection carried.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use ClusterTest;

my $t = ClusterTest->new(workers => 1);

my $version = ClusterTest::nginx_version();

my $token = 'a-token-for-the-keepalive-test-0';
$t->secret('token', $token);

my %name_of = map { $t->port($_) => $_ } qw(b1 b2);

# name => [the upstream's lines, the oldest nginx that has them]
my %upstreams = (
    explicit => ["keepalive 4;", 0],
    default => ["", 1029007],
    off => ["keepalive 0;", 1029007],
    local => ["keepalive 4 local;", 1029007],
    lt_header => ["least_time header;", 1031000],
    lt_inflight => ["least_time last_byte inflight; keepalive 2;", 1031000],
);

my @names = grep { $version >= $upstreams{$_}[1] } sort keys %upstreams;

my $http = '';

for my $u (@names) {
    $http .= <<"EOF";
    upstream $u {
        server 127.0.0.1:%%PORT_b1%%;
        server 127.0.0.1:%%PORT_b2%%;
        $upstreams{$u}[0]
        cluster zone=$u:256k;
    }

EOF
}

for my $b (qw(b1 b2)) {
    $http .= <<"EOF";
    server {
        listen 127.0.0.1:%%PORT_$b%%;
        keepalive_requests 1000;

        location / {
            add_header X-Port \$server_port;
            add_header X-Requests \$connection_requests;
            add_header X-Protocol \$server_protocol;
            return 204;
        }
    }

EOF
}

$http .= <<'EOF';
    server {
        listen 127.0.0.1:%%PORT_http%%;

        location ~ ^/(\w+)/ {
            proxy_pass http://$1/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            add_header X-Backend $upstream_http_x_port;
            add_header X-Backend-Requests $upstream_http_x_requests;
            add_header X-Backend-Protocol $upstream_http_x_protocol;
        }

        location ^~ /cluster {
            cluster_status admin=on token_file=%%DIR%%/token;
        }
    }
EOF

$t->write_config($http);
$t->run;

sub act {
    my ($what, $u) = @_;
    return $t->act($what, '127.0.0.1:' . $t->port('b1'), $u, $token);
}

# $n requests: ({ backend => count }, the most requests a connection carried,
# the protocols the backends saw)
sub many {
    my ($u, $n) = @_;
    my (%seen, %proto, $most);
    $most = 0;
    for (1 .. $n) {
        my $r = $t->get("/$u/");
        my $h = $r->{headers};
        $seen{$r->{status} == 204 ? $name_of{$h->{'x-backend'} // ''} // '?'
                                  : "status $r->{status}"}++;
        $proto{$h->{'x-backend-protocol'} // '-'}++;
        $most = $h->{'x-backend-requests'}
            if ($h->{'x-backend-requests'} // 0) > $most;
    }
    return (\%seen, $most, join(',', sort keys %proto));
}

diag("nginx $version: " . join(' ', @names));

for my $u (@names) {
    my ($seen, $most, $proto) = many($u, 10);

    ok($seen->{b1} && $seen->{b2} && !grep({ /status|\?/ } keys %$seen),
       "$u: both nodes serve")
        or diag explain $seen;
    is($proto, 'HTTP/1.1', "$u: HTTP/1.1 to the backends");

    if ($u eq 'off') {
        is($most, 1, "$u: a connection for each request");

    } elsif ($u ne 'lt_header') {
        cmp_ok($most, '>', 1, "$u: connections reused");
    }

    is(act('drain', $u), 200, "$u: b1 drained");
    ($seen) = many($u, 6);
    is_deeply($seen, { b2 => 6 }, "$u: b1 gets nothing");
    is(act('restore', $u), 200, "$u: b1 restored");
    ok($t->wait_for(sub { (many($u, 4))[0]{b1} }, 5), "$u: b1 serves again");
}

is($t->count_log(qr/cannot steer/), 0, 'every upstream is steered');

$t->check_logs;

done_testing;
