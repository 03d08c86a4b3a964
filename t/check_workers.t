#!/usr/bin/perl

# With four workers, each node is checked once per interval by one of them,
# not by each; the check facts and counters survive a reload.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep);
use ClusterTest;

my $t = ClusterTest->new(workers => 4);

$t->sim($_) for qw(web1 web2 web3);

my $conf = <<'EOF';
    upstream proget {
        server 127.0.0.1:%%PORT_web1%%;
        server 127.0.0.1:%%PORT_web2%%;
        server 127.0.0.1:%%PORT_web3%%;

        cluster zone=proget_cluster:1m;
        cluster_heartbeat interval=400ms stale=1m;
        cluster_check uri=/health timeout=1s;
    }

    server {
        listen 127.0.0.1:%%PORT_http%%;

        location / {
            proxy_pass http://proget;
        }

        location /cluster {
            cluster_status;
        }
    }
EOF

$t->write_config($conf);
$t->run;

# let the first checks settle, then count for 4 s: 10 intervals
sleep 1.5;

my %before = map { $_ => $t->sim_stats($_)->{health} } qw(web1 web2 web3);
sleep 4;
my %after = map { $_ => $t->sim_stats($_)->{health} } qw(web1 web2 web3);

for my $n (qw(web1 web2 web3)) {
    my $count = $after{$n} - $before{$n};
    ok($count >= 8 && $count <= 12,
       "$n: $count checks in 10 intervals with 4 workers (one per interval)");
}

my $checks = $t->node('proget', '127.0.0.1:' . $t->port('web1'))
    ->{health}{checks};

$t->reload;

my $n = $t->node('proget', '127.0.0.1:' . $t->port('web1'));
ok($n->{health}{checks} >= $checks, 'check counters survive a reload');
is($n->{state}, 'up', 'and so does the state');
is($n->{version}{release}, '23.0.27', 'and what the node said');

# after the reload, still one check per interval
%before = map { $_ => $t->sim_stats($_)->{health} } qw(web1 web2 web3);
sleep 2;
%after = map { $_ => $t->sim_stats($_)->{health} } qw(web1 web2 web3);

for my $n (qw(web1 web2 web3)) {
    my $count = $after{$n} - $before{$n};
    ok($count >= 3 && $count <= 7,
       "$n: $count checks in 5 intervals after the reload");
}

$t->check_logs;

done_testing;
