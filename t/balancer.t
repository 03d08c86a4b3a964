#!/usr/bin/perl

# The cluster balancer spreads requests as round robin does: weights,
# backup and down servers are honoured, and the variables tell the access
# log which node served.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use ClusterTest;

my $t = ClusterTest->new(workers => 1);

$t->sim($_) for qw(web1 web2 web3 spare idle);

$t->write_config(<<'EOF');
    log_format cluster '$request_uri $cluster_node $cluster_node_state';

    upstream proget {
        server 127.0.0.1:%%PORT_web1%%;
        server 127.0.0.1:%%PORT_web2%%;
        server 127.0.0.1:%%PORT_web3%% weight=2;
        server 127.0.0.1:%%PORT_idle%% down;
        server 127.0.0.1:%%PORT_spare%% backup;

        cluster zone=proget_cluster:1m;
        cluster_node_name 127.0.0.1:%%PORT_web1%% web-one;
    }

    upstream pooled {
        server 127.0.0.1:%%PORT_web1%%;
        server 127.0.0.1:%%PORT_web2%%;

        cluster zone=pooled_cluster:1m;
        keepalive 8;
    }

    server {
        listen 127.0.0.1:%%PORT_http%%;

        access_log %%DIR%%/cluster.log cluster;

        location /pooled {
            proxy_pass http://pooled;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }

        location / {
            proxy_pass http://proget;
        }

        location /cluster {
            cluster_status;
        }
    }
EOF

$t->run;

my $seen = $t->spread(40);

is_deeply($seen, { web1 => 10, web2 => 10, web3 => 20 },
          'requests spread by weight, none to the backup or down server');

# with keepalive wrapping the cluster: balanced and recorded all the same
$seen = $t->spread(10, '/pooled');
is_deeply($seen, { web1 => 5, web2 => 5 }, 'keepalive after cluster balances');
is(join(',', map { $_->{web}{requests} } @{$t->cluster('pooled')->{nodes}}),
   '5,5', 'and records each response');

my $r = $t->get('/cluster');
is($r->{status}, 200, 'status location answers');
like($r->{headers}{'content-type'}, qr{^application/json}, 'as JSON');
is($r->{headers}{'cache-control'}, 'no-store', 'not to be cached');

my $c = $t->cluster('proget');
is($c->{settings}{servers}, 5, 'five servers');
is($c->{panic}, JSON::PP::false, 'no panic');
is($c->{nodes_in_rotation}, 5, 'all in rotation');

my $web3 = $t->node('proget', '127.0.0.1:' . $t->port('web3'));
is($web3->{web}{requests}, 20, 'requests counted per node');
is($web3->{weight}, 2, 'weight shown');
is($web3->{state}, 'up', 'a node that answered is up');
is($web3->{web}{last_status}, 200, 'last status recorded');
ok(defined $web3->{web}{last_heartbeat}, 'heartbeat recorded');

is($t->node('proget', '127.0.0.1:' . $t->port('web1'))->{name}, 'web-one',
   'a node named by cluster_node_name');

my $spare = $t->node('proget', '127.0.0.1:' . $t->port('spare'));
is($spare->{backup}, JSON::PP::true, 'backup shown');
is($spare->{state}, 'checking', 'a node never heard from is checking');
is($spare->{web}{last_heartbeat}, undef, 'and has no heartbeat');

# the backup takes over when every primary is gone
$t->stop_sim($_) for qw(web1 web2 web3);

$seen = $t->spread(6);
is($seen->{spare}, 6, 'the backup serves when the primaries are gone');

$r = ClusterTest::http_request($t->port('http'), 'POST', '/cluster', 'x=1');
is($r->{status}, 405, 'POST to the status is not allowed');

# the access log names the node and its state
$t->stop;

my @log = split /\n/, $t->read_file('cluster.log');
my ($first) = grep { m{^/ } } @log;
like($first, qr{^/ 127\.0\.0\.1:\d+ (checking|up)$},
     '$cluster_node and $cluster_node_state in the access log');
ok((grep { m{^/cluster - -$} } @log), 'empty for requests not balanced');
ok((grep { m{^/ web-one (checking|up)$} } @log), 'the configured name');

$t->check_logs;

done_testing;
