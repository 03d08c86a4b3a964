#!/usr/bin/perl

# cluster_check host=: the checks of a site bound to a host name (an IIS
# binding) send that Host, in nginx and in the HAProxy bridge; a name that
# is no host name is refused with what was expected.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use ClusterTest;
use ClusterHAProxy;

my $t = ClusterTest->new(workers => 1);
$t->sim('web1');

$t->write_config(<<'EOF');
    upstream proget {
        server 127.0.0.1:%%PORT_web1%%;
        cluster zone=proget:1m;
        cluster_check uri=/health rise=1 host=proget.example.com;
    }

    server {
        listen 127.0.0.1:%%PORT_http%%;
        location /cluster { cluster_status; }
    }
EOF

$t->run;

ok($t->wait_for(sub { $t->sim_stats('web1')->{health_host} }, 5),
   'nginx checked the node');
is($t->sim_stats('web1')->{health_host}, 'proget.example.com',
   'with the site\'s name as Host');
$t->check_logs;
$t->stop;

$t->write_config(<<'EOF');
    upstream proget {
        server 127.0.0.1:%%PORT_web1%%;
        cluster zone=proget:1m;
        cluster_check host=proget/example;
    }
EOF

my ($rc, $out) = $t->test_config;
isnt($rc, 0, 'host= with a slash: nginx -t refuses');
like($out, qr/invalid value "host=proget\/example", expected "host=" a host name such as proget\.example\.com.* in \S+nginx\.conf:\d+/,
     'saying what was expected, with file and line');

SKIP: {
    skip 'no HAProxy bridge', 2 unless $ENV{CLUSTER_BRIDGE};

    my $h = ClusterHAProxy->new;
    $h->sim('web2');
    $h->write_haproxy(<<'HAPROXY', <<'CLUSTER');
frontend web
    bind 127.0.0.1:%%PORT_http%%
    default_backend proget

backend proget
    server web2 127.0.0.1:%%PORT_web2%%
HAPROXY
backend proget {
    cluster_check uri=/health rise=1 host=buildmaster.example.com:8622;
}
CLUSTER

    $h->run_haproxy;

    ok($h->wait_for(sub { $h->sim_stats('web2')->{health_host} }, 5),
       'the bridge checked the node');
    is($h->sim_stats('web2')->{health_host}, 'buildmaster.example.com:8622',
       'with the site\'s name as Host');
    $h->check_logs;
}

done_testing;
