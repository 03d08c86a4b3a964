#!/usr/bin/perl

# A node that stops answering leaves rotation after "fall" failures in a row
# and comes back, through trial requests, after "rise" answers in a row; the
# users see no error meanwhile, and each change is logged once.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep);
use ClusterTest;

my $t = ClusterTest->new(workers => 2);

$t->sim($_) for qw(web1 web2 web3);

$t->write_config(<<'EOF', log_level => 'info');
    upstream proget {
        server 127.0.0.1:%%PORT_web1%% max_fails=0;
        server 127.0.0.1:%%PORT_web2%% max_fails=0;
        server 127.0.0.1:%%PORT_web3%% max_fails=0;

        cluster zone=proget_cluster:1m;
        cluster_heartbeat interval=1s stale=30s;
        cluster_eject down;
    }

    server {
        listen 127.0.0.1:%%PORT_http%%;

        location / {
            proxy_pass http://proget;
            proxy_next_upstream error timeout;
            proxy_connect_timeout 2s;
        }

        location /cluster {
            cluster_status;
        }
    }
EOF

$t->run;

my $web2 = '127.0.0.1:' . $t->port('web2');

my $seen = $t->spread(30);
is(scalar keys %$seen, 3, 'all three nodes serve');

$t->stop_sim('web2');

$seen = $t->spread(20);
ok(!grep({ /status/ } keys %$seen), 'no user sees an error while a node dies')
    or diag explain $seen;

my $n = $t->node('proget', $web2);
is($n->{state}, 'down', 'the killed node is down');
is($n->{in_rotation}, JSON::PP::false, 'and out of rotation');
is_deeply($n->{reasons}, ['down'], 'because it is down');
is($n->{web}{status}, 'failing', 'its web component is failing');
ok($n->{web}{failures} >= 3, 'after "fall" failures');
is($t->cluster('proget')->{nodes_in_rotation}, 2, 'two nodes left');

is($t->count_log(qr/\[warn\].*cluster "proget" node "\Q$web2\E".* is down, out of rotation/),
   1, 'leaving rotation is logged once, at warn');

# a node out of rotation gets nothing but a trial now and then
$seen = $t->spread(20);
is($seen->{web2}, undef, 'no traffic to the down node');
ok(!grep({ /status/ } keys %$seen), 'and no errors') or diag explain $seen;

# it comes back, with no help but the trickle of traffic
$t->sim('web2');

my $back = $t->wait_for(sub {
    $t->get('/');
    $t->node('proget', $web2)->{in_rotation};
}, 15);

ok($back, 'the node returns to rotation once it answers again');

$n = $t->node('proget', $web2);
is($n->{state}, 'up', 'and is up');
is($t->count_log(qr/\[notice\].*node "\Q$web2\E".* is up, in rotation, was down/),
   1, 'the return is logged once, at notice');
ok($t->count_log(qr/trial request to node "\Q$web2\E"/) >= 2,
   'it came back through trial requests ("rise" of them)');

$seen = $t->spread(30);
ok($seen->{web2}, 'it serves again');

$t->check_logs;

done_testing;
