#!/usr/bin/perl

# A node that no request reaches goes stale once its last heartbeat is older
# than "stale", and an answer makes it up again; heartbeat ages move in the
# status; with "cluster_eject stale", stale nodes leave rotation and come
# back through trial requests; a backup is never stale by passive judgement.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep);
use ClusterTest;

my $t = ClusterTest->new(workers => 1);

$t->sim($_) for qw(web1 web2 web3 spare);

$t->write_config(<<'EOF');
    upstream shown {
        server 127.0.0.1:%%PORT_web1%%;
        server 127.0.0.1:%%PORT_web2%%;
        server 127.0.0.1:%%PORT_spare%% backup;

        cluster zone=shown_cluster:1m;
        cluster_heartbeat interval=500ms stale=1s;
    }

    upstream ejected {
        server 127.0.0.1:%%PORT_web1%%;
        server 127.0.0.1:%%PORT_web2%%;
        server 127.0.0.1:%%PORT_web3%%;

        cluster zone=ejected_cluster:1m;
        cluster_heartbeat interval=500ms stale=1500ms;
        cluster_eject stale down;
    }

    server {
        listen 127.0.0.1:%%PORT_http%%;

        location / {
            proxy_pass http://shown;
        }

        location /ejected {
            proxy_pass http://ejected;
        }

        location /cluster {
            cluster_status;
        }
    }
EOF

$t->allow_log(qr/\[alert\].*cluster "ejected" is in panic/);

$t->run;

my %addr = map { $_ => '127.0.0.1:' . $t->port($_) } qw(web1 web2 web3 spare);

$t->spread(2);

my $a1 = $t->node('shown', $addr{web1})->{web}{heartbeat_age_s};
sleep 0.5;
my $a2 = $t->node('shown', $addr{web1})->{web}{heartbeat_age_s};

ok($a2 - $a1 >= 0.4 && $a2 - $a1 < 1.5, 'heartbeat age moves with time')
    or diag "$a1 then $a2";

# nobody asks: both go stale, and stay in rotation, as not ejected
ok($t->wait_for(sub {
    !grep { $_->{state} ne 'stale' && !$_->{backup} }
        @{$t->cluster('shown')->{nodes}};
}, 5), 'nodes no request reaches go stale');

my $spare = $t->node('shown', $addr{spare});
is($spare->{state}, 'checking', 'but not the backup, which nothing needs');

my $n = $t->node('shown', $addr{web1});
is($n->{in_rotation}, JSON::PP::true, 'shown but not ejected');
is($n->{web}{status}, 'stale', 'the web component is stale');
is_deeply($n->{findings}, ['stale'], 'a finding');
is_deeply($n->{reasons}, [], 'but no reason to be out');
is($t->cluster('shown')->{panic}, JSON::PP::false, 'no panic');
is($t->count_log(qr/\[warn\].*node "\Q$addr{web1}\E".* is stale, in rotation, was up/),
   1, 'going stale is logged once');

# one request: the node that answered is up, the other still stale
is($t->get('/')->{status}, 200, 'a request');
my @states = sort map { $_->{state} } grep { !$_->{backup} }
    @{$t->cluster('shown')->{nodes}};
is_deeply(\@states, ['stale', 'up'], 'the node that answered is up again');
ok($t->node('shown', $addr{web1})->{web}{heartbeat_age_s} < $a2
   || $t->node('shown', $addr{web2})->{web}{heartbeat_age_s} < $a2,
   'with a fresh heartbeat');

# ejected: a quiet cluster is all stale, a panic until the first answer;
# the other nodes come back through trials
$t->get('/ejected') for 1 .. 3;

ok($t->wait_for(sub { $t->cluster('ejected')->{panic} }, 5),
   'a quiet cluster with stale ejected is in panic');

my $c = $t->cluster('ejected');
is_deeply([map { $_->{state} } @{$c->{nodes}}],
          ['stale', 'stale', 'stale'], 'every node stale');

is($t->get('/ejected')->{status}, 200, 'a request is served in panic');
is($t->cluster('ejected')->{panic}, JSON::PP::false, 'and ends the panic');

ok($t->wait_for(sub {
    $t->get('/ejected');
    !grep { $_->{state} ne 'up' } @{$t->cluster('ejected')->{nodes}};
}, 10), 'the stale nodes come back through trial requests');

is($t->sim_stats('spare')->{content}, 0, 'the backup was never needed');

$t->check_logs;

done_testing;
