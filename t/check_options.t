#!/usr/bin/perl

# The options of the checks: "mandatory" keeps a node out until it passes a
# check; "cluster_slow_start" ramps a returning node's share; "uri=" and
# "expect=" check a product with no health JSON (Otter), whose components
# and version then show as unknown, not as errors.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep);
use ClusterTest;

my $t = ClusterTest->new(workers => 1);

$t->sim($_) for qw(web1 web2 slow1 slow2 otter);

# web2's /health never answers, from the start
$t->sim_control('web2', 'answer=hang');

$t->write_config(<<'EOF');
    upstream strict {
        server 127.0.0.1:%%PORT_web1%%;
        server 127.0.0.1:%%PORT_web2%%;

        cluster zone=strict_cluster:1m;
        cluster_heartbeat interval=300ms stale=1m;
        cluster_check timeout=3s fall=3 mandatory;
    }

    upstream relaxed {
        server 127.0.0.1:%%PORT_web1%%;
        server 127.0.0.1:%%PORT_web2%%;

        cluster zone=relaxed_cluster:1m;
        cluster_heartbeat interval=300ms stale=1m;
        cluster_check timeout=3s fall=3;
    }

    upstream ramp {
        server 127.0.0.1:%%PORT_slow1%%;
        server 127.0.0.1:%%PORT_slow2%%;

        cluster zone=ramp_cluster:1m;
        cluster_heartbeat interval=200ms stale=1m;
        cluster_check timeout=300ms rise=1 fall=1;
        cluster_slow_start 30s;
    }

    upstream otter {
        server 127.0.0.1:%%PORT_otter%%;

        cluster zone=otter_cluster:1m;
        cluster_heartbeat interval=300ms stale=1m;
        cluster_check uri=/ expect=200-399;
    }

    server {
        listen 127.0.0.1:%%PORT_http%%;

        location /strict { proxy_pass http://strict; }
        location /relaxed { proxy_pass http://relaxed; }
        location /ramp { proxy_pass http://ramp; }
        location /otter { proxy_pass http://otter; }

        location /cluster {
            cluster_status;
        }
    }
EOF

$t->run;

# at the start, before any check passed, "strict" routes to every node
$t->allow_log(qr/\[notice\].*cluster "strict" waits for its first checks/);

my $web2 = '127.0.0.1:' . $t->port('web2');

# before web2's first check can end (3 s), only "relaxed" sends it traffic
ok($t->wait_for(sub {
    $t->node('strict', '127.0.0.1:' . $t->port('web1'))->{state} eq 'up';
}, 3), 'web1 passes its first check');

my $strict = $t->spread(10, '/strict');
my $relaxed = $t->spread(10, '/relaxed');

is_deeply($strict, { web1 => 10 }, 'mandatory: no traffic before a check passes')
    or diag explain $strict;
ok($relaxed->{web2}, 'without it, the node takes traffic meanwhile')
    or diag explain $relaxed;

my $n = $t->node('strict', $web2);
is($n->{state}, 'checking', 'the node is checking');
is($n->{in_rotation}, JSON::PP::false, 'and out of rotation');
is_deeply($n->{reasons}, ['unchecked'], 'because it is unchecked');
is($t->node('relaxed', $web2)->{in_rotation}, JSON::PP::true,
   'in rotation where checks are not mandatory');

# slow start: a node back after a failure takes a small share at first
my $slow2 = '127.0.0.1:' . $t->port('slow2');

$t->sim_control('slow2', 'answer=hang');
ok($t->wait_for(sub { $t->node('ramp', $slow2)->{state} eq 'down' }, 5),
   'slow2 goes down');

$t->sim_control('slow2', 'answer=normal');
ok($t->wait_for(sub { $t->node('ramp', $slow2)->{state} eq 'up' }, 5),
   'and comes back');

my $ramp = $t->spread(60, '/ramp');
ok(($ramp->{slow2} // 0) < 15 && $ramp->{slow1} > 45,
   'slow start: the returning node takes a small share at first')
    or diag explain $ramp;

is($t->cluster('ramp')->{settings}{slow_start_s}, 30, 'shown');

# Otter: any page, a status range, and facts unknown rather than errors
my $o = $t->node('otter', '127.0.0.1:' . $t->port('otter'));
ok($t->wait_for(sub {
    $o = $t->node('otter', '127.0.0.1:' . $t->port('otter'));
    $o->{health}{checks} >= 2;
}, 5), 'a node with no health JSON is checked');
is($o->{state}, 'up', 'and up');
is($o->{health}{status_code}, 200, 'by its status');
is($o->{version}{release}, undef, 'its version unknown');
is($o->{version}{in_sync}, undef, 'not out of sync');
is($o->{service}{status}, 'unknown', 'its service unknown');
is($o->{health}{database}, undef, 'its database unknown');
is_deeply($o->{findings}, [], 'no findings');
is_deeply($o->{hints}, [], 'no hints');

$t->check_logs;

done_testing;
