#!/usr/bin/perl

# "server ... resolve" (nginx 1.27.3) with "cluster", after nginx-tests'
# upstream_resolve.t and upstream_resolve_reload.t: the zone adds and
# removes the peers of a name at run time. The name is one node, known by
# the server line's name: checked at the address it has now, judged and
# shown; an operator's drain stays when the name moves to another address;
# the peers added at run time never overrun what the cluster sized at
# configuration (a worker crashed, or the new peer got no traffic), nor do
# those a reload finds already resolved in the zone (the master crashed).

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use ClusterTest;

my $t = ClusterTest->new(workers => 2);

$t->need_nginx('1.27.3', '"server ... resolve"');

my $token = 'a-token-for-the-resolve-test-012';
$t->secret('token', $token);

# two nodes the name moves between, on one port, and a node by address
my $port = $t->port('named');
$t->sim('web1', listen => '127.0.0.2', port => $port);
$t->sim('web2', listen => '127.0.0.3', port => $port);
$t->sim('web3');

my $dns = $t->dns;
$t->dns_set('proget.test' => ['127.0.0.2']);

my $name = "proget.test:$port";

$t->write_config(<<"EOF");
    resolver 127.0.0.1:$dns valid=1s ipv6=off;
    resolver_timeout 1s;

    upstream proget {
        zone proget 64k;
        server $name resolve;
        server 127.0.0.1:%%PORT_web3%%;

        cluster zone=cluster:1m;
        cluster_heartbeat interval=300ms stale=1m;
        cluster_check timeout=1s rise=1 fall=1;
    }

    server {
        listen 127.0.0.1:%%PORT_http%%;

        location / {
            proxy_pass http://proget;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }

        location /cluster {
            cluster_status admin=on token_file=%%DIR%%/token;
        }
    }
EOF

$t->run;

sub act {
    my ($what, $id) = @_;
    return $t->act($what, $id, 'proget', $token);
}

sub node { $t->node('proget', $_[0]) }

ok($t->wait_for(sub { ($t->spread(4)->{web1} // 0) > 0 }, 10),
   'the name resolves: its node takes requests');

my $n = node($name);
ok($n, "the node is known by the server's name, \"$name\"")
    or diag explain $t->cluster('proget');
is(scalar @{$t->cluster('proget')->{nodes}}, 2, 'two nodes in all');
ok($t->wait_for(sub { (node($name)->{state} // '') eq 'up' }, 5),
   '  checked at its address: up');

my $seen = $t->spread(8);
ok($seen->{web1} && $seen->{web3}, 'both nodes share the requests')
    or diag explain $seen;

# an operator's drain, kept when the name moves to another address

is(act('drain', $name), 200, 'the named node drained');
is_deeply($t->spread(6), { web3 => 6 }, '  it takes no request');

$t->dns_set('proget.test' => ['127.0.0.3']);
sleep 3;

is(node($name)->{state}, 'drained', 'the name moved: the node stays drained');
is_deeply($t->spread(6), { web3 => 6 }, '  and takes no request');

is(act('restore', $name), 200, 'restored');
ok($t->wait_for(sub { ($t->spread(4)->{web2} // 0) > 0 }, 5),
   '  the node takes requests at its new address');
ok(!$t->spread(8)->{web1}, '  none goes to the old one');

# judged at its new address

$t->stop_sim('web2');
ok($t->wait_for(sub { (node($name)->{state} // '') eq 'down' }, 5),
   'stopped at its new address: down');
$seen = $t->spread(6);
is_deeply($seen, { web3 => 6 }, '  out of rotation, no error')
    or diag explain $seen;

# more addresses at once (one node: nginx balances among them), then none

$t->sim('web2', listen => '127.0.0.3', port => $port);
ok($t->wait_for(sub { (node($name)->{state} // '') eq 'up' }, 5),
   'started again: up');

$t->dns_set('proget.test' => ['127.0.0.2', '127.0.0.3']);
ok($t->wait_for(sub {
       my $s = $t->spread(8);
       $s->{web1} && $s->{web2};
   }, 5),
   'two addresses: both serve');
is(scalar @{$t->cluster('proget')->{nodes}}, 2, '  still two nodes');
$t->dns_set();
ok($t->wait_for(sub { !$t->spread(6)->{web1} }, 5),
   'no address: the name takes no request');
is_deeply($t->spread(4), { web3 => 4 }, '  the other node serves them all');

# a reload finds the name's peers resolved in the zone

$t->dns_set('proget.test' => ['127.0.0.2']);
ok($t->wait_for(sub { ($t->spread(6)->{web1} // 0) > 0 }, 5),
   'resolved again');

$t->reload;

ok($t->wait_for(sub { ($t->spread(6)->{web1} // 0) > 0 }, 5),
   'after a reload, the resolved name serves');
ok($t->wait_for(sub { (node($name)->{state} // '') eq 'up' }, 5),
   '  and its node is up');

$t->allow_log(qr/proget\.test could not be resolved/);

$t->check_logs;

done_testing;
