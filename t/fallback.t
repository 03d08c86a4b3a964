#!/usr/bin/perl

# The panic guard for one request: when nothing the module keeps in rotation
# is usable (here a backup that nginx's own max_fails has failed), a request
# goes to the nodes the module took out rather than fail.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use ClusterTest;

my $t = ClusterTest->new(workers => 1);

$t->sim($_) for qw(web1 web2 spare);

$t->write_config(<<'EOF');
    upstream proget {
        server 127.0.0.1:%%PORT_web1%% max_fails=0;
        server 127.0.0.1:%%PORT_web2%% max_fails=0;
        server 127.0.0.1:%%PORT_spare%% backup max_fails=1 fail_timeout=60s;

        cluster zone=proget_cluster:1m;
        cluster_heartbeat interval=60s stale=10m;
    }

    server {
        listen 127.0.0.1:%%PORT_http%%;

        location / {
            proxy_pass http://proget;
            proxy_next_upstream error timeout http_500;
        }

        location /cluster {
            cluster_status;
        }
    }
EOF

$t->run;

# the primaries fail until the module takes them out; the backup serves
$t->sim_control($_, 'status=500') for qw(web1 web2);

my $seen = $t->spread(8);
ok($seen->{spare}, 'the backup serves once the primaries are down')
    or diag explain $seen;

my @states = map { $_->{state} } grep { !$_->{backup} }
    @{$t->cluster('proget')->{nodes}};
is_deeply(\@states, ['down', 'down'], 'both primaries are down');
is($t->cluster('proget')->{panic}, JSON::PP::false,
   'no panic: the backup is in rotation');

# the primaries heal but stay out (no trial for a minute); the backup dies
$t->sim_control($_, 'reset=1') for qw(web1 web2);
$t->stop_sim('spare');

$seen = $t->spread(6);
ok(!grep({ /status/ } keys %$seen),
   'no request fails: they go to the primaries the module took out')
    or diag explain $seen;

$t->check_logs;

done_testing;
