#!/usr/bin/perl

# A node that no request reaches goes stale once its last heartbeat is older
# than "stale"; heartbeat ages move in the status; a stale node out of
# rotation comes back through a trial request.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep);
use ClusterTest;

my $t = ClusterTest->new(workers => 1);

$t->sim($_) for qw(web1 web2 quiet);

$t->write_config(<<'EOF');
    upstream proget {
        server 127.0.0.1:%%PORT_web1%%;
        server 127.0.0.1:%%PORT_web2%%;
        server 127.0.0.1:%%PORT_quiet%% backup;

        cluster zone=proget_cluster:1m;
        cluster_heartbeat interval=500ms stale=2s;
        cluster_eject stale down;
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

$t->run;

my $web1 = '127.0.0.1:' . $t->port('web1');
my $quiet = '127.0.0.1:' . $t->port('quiet');

$t->spread(4);

my $a1 = $t->node('proget', $web1)->{web}{heartbeat_age_s};
sleep 0.6;
my $a2 = $t->node('proget', $web1)->{web}{heartbeat_age_s};

ok($a2 - $a1 >= 0.5 && $a2 - $a1 < 1.5, 'heartbeat age moves with time')
    or diag "$a1 then $a2";

$t->spread(2);
ok($t->node('proget', $web1)->{web}{heartbeat_age_s} < $a2,
   'and starts again with a response');

# keep the primaries busy while the backup hears nothing
$t->wait_for(sub {
    $t->spread(2);
    $t->node('proget', $quiet)->{state} eq 'stale';
}, 10);

my $n = $t->node('proget', $quiet);
is($n->{state}, 'stale', 'a node no request reaches goes stale');
is($n->{in_rotation}, JSON::PP::false, 'and, as ejected, leaves rotation');
is_deeply($n->{reasons}, ['stale'], 'because it is stale');
is($n->{web}{status}, 'stale', 'its web component is stale');
is($n->{web}{last_heartbeat}, undef, 'it never had a heartbeat');

is($t->node('proget', $web1)->{state}, 'up', 'the busy nodes stay up');
is($t->cluster('proget')->{panic}, JSON::PP::false, 'no panic');

is($t->count_log(qr/\[warn\].*node "\Q$quiet\E".* is stale, out of rotation/),
   1, 'going stale is logged once');

# with the primaries gone, the stale backup gets a trial and comes back
$t->stop_sim($_) for qw(web1 web2);

my $back = $t->wait_for(sub {
    $t->get('/');
    $t->node('proget', $quiet)->{state} eq 'up';
}, 10);

ok($back, 'a stale node that answers a trial is up again');
is($t->node('proget', $quiet)->{in_rotation}, JSON::PP::true,
   'and in rotation');

$t->check_logs;

done_testing;
