#!/usr/bin/perl

# "make demo-ha" works: two nginx share one PostgreSQL, a drain on one
# reaches the other within a second and a restore comes back, the history
# is in the database, and it stops all it started.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use ClusterTest;
use ClusterPostgres;

plan(skip_all => 'PostgreSQL is not installed: run make test')
    unless ClusterPostgres::bin('initdb');

my $t = ClusterTest->new;

# the demo takes this port and the next one
my $port;
for (1 .. 50) {
    $port = $t->port("demo$_");
    last if IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                  LocalPort => $port + 1, Listen => 1);
}

my $node = $t->port('demo_node');
my $pg = ClusterPostgres::free_port();

my $out = `DEMO_SECONDS=1 DEMO_PORT=$port DEMO_NODE_PORT=$node DEMO_PG_PORT=$pg bash tests/demo_ha.sh 2>&1`;
is($?, 0, 'the demo ran') or diag $out;

like($out, qr/lb1: database connected; web1 up, web2 up, web3 up/,
     'lb1 connected, every node up');
like($out, qr/lb2: database connected/, 'lb2 connected');
like($out, qr/drains web2 on lb1 \(HTTP 200\)/, 'a drain on lb1');

my ($drain) = $out =~ /lb2 drains it too, after (\d+) ms/;
ok(defined $drain && $drain < 1000, 'reaches lb2 within a second')
    or diag $out;
like($out, qr/lb2: database connected; web1 up, web2 drained \(out\)/,
     'lb2 has it drained');

my ($restore) = $out =~ /lb1 restores it too, after (\d+) ms/;
ok(defined $restore && $restore < 1000, 'a restore on lb2 reaches lb1')
    or diag $out;

like($out, qr/lb1: \S+ admin drain by token/, 'the history has the drain');
like($out, qr/stopped both nginx, PostgreSQL and the simulated nodes/,
     'it stops all it started');

my ($dir) = $out =~ m{(/\S*cluster-demo-ha-\w+)/admin\.token};
ok($dir && !-e $dir, 'and leaves no folder');

done_testing();
