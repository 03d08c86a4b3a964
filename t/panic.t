#!/usr/bin/perl

# The panic guard: when the module would take every node out, it routes to
# all of them instead, says so at alert and in the status, and leaves panic
# by itself once a node is back.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep);
use ClusterTest;

my $t = ClusterTest->new(workers => 2);

$t->sim($_) for qw(web1 web2);

$t->write_config(<<'EOF');
    upstream failing {
        server 127.0.0.1:%%PORT_web1%% max_fails=0;
        server 127.0.0.1:%%PORT_web2%% max_fails=0;

        cluster zone=failing_cluster:1m;
        cluster_heartbeat interval=500ms stale=1m;
    }

    upstream quiet {
        server 127.0.0.1:%%PORT_web1%%;
        server 127.0.0.1:%%PORT_web2%%;

        cluster zone=quiet_cluster:1m;
        cluster_heartbeat interval=300ms stale=1s;
        cluster_eject stale;
    }

    server {
        listen 127.0.0.1:%%PORT_http%%;

        location / {
            proxy_pass http://failing;
            proxy_next_upstream error timeout http_500;
        }

        location /quiet {
            proxy_pass http://quiet;
        }

        location /cluster {
            cluster_status;
        }
    }
EOF

$t->allow_log(qr/\[alert\].*cluster "(failing|quiet)" is in panic/);

$t->run;

# every node answers 500: all of them are down by the module's judgement
$t->sim_control($_, 'status=500') for qw(web1 web2);

my $statuses = $t->spread(12);
is_deeply([keys %$statuses], ['status 500'],
          'the nodes\' own errors reach the client');

my $c = $t->cluster('failing');
is($c->{panic}, JSON::PP::true, 'every node down: panic');
is($c->{nodes_in_rotation}, 2, 'and every node takes traffic');
is_deeply([map { $_->{state} } @{$c->{nodes}}], ['down', 'down'],
          'though both are down');

my $before = $t->sim_stats('web1')->{content} + $t->sim_stats('web2')->{content};
$t->spread(6);
my $after = $t->sim_stats('web1')->{content} + $t->sim_stats('web2')->{content};
ok($after - $before >= 6, 'in panic the requests still reach the nodes');

is($t->count_log(qr/\[alert\].*cluster "failing" is in panic/), 1,
   'panic is logged once, at alert');

# the nodes heal; traffic in panic brings them back, and panic ends
$t->sim_control($_, 'reset=1') for qw(web1 web2);

$statuses = $t->spread(10);
ok(!grep({ /status/ } keys %$statuses), 'healed nodes serve')
    or diag explain $statuses;

$c = $t->cluster('failing');
is($c->{panic}, JSON::PP::false, 'the first node up ends the panic');

# the other one comes back through trials, one an interval
ok($t->wait_for(sub {
    $t->get('/');
    !grep { $_->{state} ne 'up' } @{$t->cluster('failing')->{nodes}};
}, 10), 'both nodes up again');

is($t->count_log(qr/\[notice\].*cluster "failing" left panic/), 1,
   'leaving panic is logged');

# a cluster nobody uses goes stale as a whole: panic, yet traffic flows
sleep 1.5;

$c = $t->cluster('quiet');
is($c->{panic}, JSON::PP::true, 'a quiet cluster, all stale: panic');
is_deeply([map { $_->{state} } @{$c->{nodes}}], ['stale', 'stale'],
          'every node stale');

my $r = $t->get('/quiet');
is($r->{status}, 200, 'yet requests are served');

is($t->cluster('quiet')->{panic}, JSON::PP::false,
   'and the first answer ends the panic');

$t->check_logs;

done_testing;
