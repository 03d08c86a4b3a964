#!/usr/bin/perl

# The bridge's detection on the HAProxy that runs it, by its checks alone
# (no traffic): a node stopped is found down within interval x fall (here
# under 3 s), its checks saying "refused" at once, not after their
# timeout.  HAProxy's Lua sockets retry a refused connect three times, a
# second apart, since 2.9: a check on them alone took 3 s or its timeout
# (2 s here: detection past 4 s); the bridge asks the port first with a
# connect of its own.  The service messenger's port is asked the same way.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep time);
use ClusterHAProxy;

my $t = ClusterHAProxy->new;

my (undef, undef, $version) = $t->haproxy_version;

# each node on an address of its own, so that one messenger port serves
# them all, as on a real cluster
my $port = $t->port('nodes');
my $messenger = $t->port('messenger');
my %at = (web1 => '127.0.0.31', web2 => '127.0.0.32', web3 => '127.0.0.33');

for my $name (sort keys %at) {
    $t->sim($name, listen => $at{$name}, port => $port,
            messenger => $messenger);
}

$t->write_haproxy(<<"EOF", <<"EOF");
frontend web
    bind 127.0.0.1:%%PORT_http%%
    http-request use-service lua.cluster_status if { path_beg /cluster }
    default_backend proget

backend proget
    server web1 $at{web1}:$port
    server web2 $at{web2}:$port
    server web3 $at{web3}:$port
EOF
backend proget {
    cluster_heartbeat interval=1s stale=1m;
    cluster_check timeout=2s rise=2 fall=2 messenger=$messenger;
}
EOF

$t->run_haproxy;

sub node { $t->node('proget', "$at{$_[0]}:$port") }

ok($t->all_up('proget', 6), 'the three nodes up once checked');

# the web node stopped: found down by its checks alone
$t->stop_sim('web2');
my $stopped_at = time;

ok($t->wait_for(sub { node('web2')->{state} eq 'down' }, 8),
   'web2, stopped, found down');
my $detected = time - $stopped_at;
note(sprintf 'HAProxy %s: detected in %.2f s', $version, $detected);
cmp_ok($detected, '<', 1 * 2 + 1,
       sprintf('within interval x fall: %.2f s', $detected));

my $health = node('web2')->{health};
like($health->{reason} // '', qr/refused/, 'its check says "refused"');
cmp_ok($health->{duration_ms} // 9999, '<', 500,
       "at once: $health->{duration_ms} ms, not the check's timeout");
ok($t->wait_for(sub {
       ($t->haproxy_stat('proget', 'web2', 'status') // '') =~ /^DOWN/ }, 2),
   'HAProxy\'s own stats say DOWN');

# a node whose messenger port closes: its check still takes no time
$t->stop_sim('web3');
$t->sim('web3', listen => $at{web3}, port => $port);
my $closed_at = time;
ok($t->wait_for(sub {
       (node('web3')->{service}{messenger} // '') eq 'unreachable'
   }, 6), 'web3\'s messenger port closed: seen')
    or diag explain node('web3')->{service};
cmp_ok(node('web3')->{health}{duration_ms} // 9999, '<', 500,
       'its check is quick all the same');
note(sprintf 'HAProxy %s: messenger closed seen in %.2f s', $version,
             time - $closed_at);

$t->stop;
$t->check_logs;

done_testing;
