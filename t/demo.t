#!/usr/bin/perl

# "make demo" works: it starts its nodes and nginx, shows a stopped node out
# of rotation, and stops all it started.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use ClusterTest;

my $t = ClusterTest->new;

my $port = $t->port('demo');
# the demo takes three node ports in a row from this one
my $node = $t->port('demo_node');

my $out = `DEMO_SECONDS=1 DEMO_PORT=$port DEMO_NODE_PORT=$node bash tests/demo.sh 2>&1`;
is($?, 0, 'the demo ran') or diag $out;

like($out, qr/cluster proget: 3 of 3 nodes in rotation/, 'three nodes at first');
like($out, qr/cluster proget: 2 of 3 nodes in rotation/, 'then two');
like($out, qr/127\.0\.0\.1:\Q@{[$node + 2]}\E\s+down\s+no \(down\)/,
     'the stopped node is down and out of rotation');
like($out, qr{status is at http://127\.0\.0\.1:$port/cluster}, 'says where');
like($out, qr/stopped nginx and the simulated nodes/, 'and stops');

ok(!$t->wait_port($port, 0.2), 'nothing left listening on its port');

done_testing;
