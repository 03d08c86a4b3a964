#!/usr/bin/perl

# "make demo-haproxy" works: make demo's scenario behind HAProxy with the
# bridge; the node with another EncryptionKey and the stopped node are out
# of rotation in the bridge's status and in HAProxy's own, and it stops all
# it started.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use ClusterHAProxy;

my $t = ClusterHAProxy->new;

my $port = $t->port('demo');
my $node = $t->port('demo_node');

# a demo whose HAProxy cannot start (here: a cluster.lua with no C module
# beside it) says what HAProxy said, and leaves nothing behind: no node, no
# HAProxy, no folder with the admin token and the keys
my $broken = $t->dir . '/broken';
my $tmp = $t->dir . '/tmp';
mkdir $_ for $broken, $tmp;
system('cp', $ENV{CLUSTER_BRIDGE}, "$broken/cluster.lua") == 0
    or die "cp: $?";

my $failed = `TMPDIR=$tmp CLUSTER_BRIDGE=$broken/cluster.lua DEMO_SECONDS=1 DEMO_PORT=$port DEMO_NODE_PORT=$node bash tests/demo_haproxy.sh 2>&1`;
isnt($?, 0, 'a demo whose HAProxy cannot start fails');
like($failed, qr/demo: HAProxy did not start; HAProxy \(\S+\) said:\n.*ALERT.*no cluster_bridge\.so beside/,
     '  saying what HAProxy said');
like($failed, qr/stopped HAProxy and the simulated nodes/, '  stops');
my @left = glob "$tmp/*";
is("@left", '', '  and leaves no folder');
ok(!grep({ $t->wait_port("127.0.0.$_:$node", 0.2) } 11 .. 15),
   '  nor a node running');
ok(!$t->wait_port($port, 0.2), '  nor HAProxy');

# the demo preloads the sanitizers' runtime into HAProxy itself, with
# CLUSTER_SANITIZE: its curl and its nodes are left as they are
my $out = `DEMO_SECONDS=1 DEMO_PORT=$port DEMO_NODE_PORT=$node bash tests/demo_haproxy.sh 2>&1`;
is($?, 0, 'the demo ran') or diag $out;

like($out, qr/cluster proget, release 23\.0\.27: 4 of 5 nodes in rotation/,
     'four nodes of five at first');
like($out, qr/cluster proget, release 23\.0\.27: 3 of 5 nodes in rotation/,
     'then three');
like($out, qr/127\.0\.0\.15:$node\s+web5\s+up\s+out:key_mismatch\s+23\.0\.27\s+ok\s+ok\s+BAD/,
     'the node with another key is out of rotation');
like($out, qr/web5: Encryption key not in sync: .*\(fingerprint [0-9a-f]{8}\)/,
     'with its hint');
unlike($out, qr/\b[0-9a-f]{32}\b/, 'no key in its output');
like($out, qr/127\.0\.0\.14:$node\s+web4\s+down\s+out:down/,
     'the stopped node is down and out of rotation');
like($out, qr/HAProxy says: .*web4 DOWN; web5 DOWN/,
     'HAProxy\'s own stats agree');
like($out, qr/web3: Software version 23\.0\.31 is not in sync/,
     'the node on another release, with its hint');
like($out, qr/web2: The service component is not running/,
     'the stopped service, with its hint');
like($out, qr{status is at http://127\.0\.0\.1:$port/cluster}, 'says where');
my ($tokfile) = $out =~ m{demo: (/\S+/admin\.token)};
ok($tokfile && !-e $tokfile, 'the token goes with the demo');
like($out, qr/stopped HAProxy and the simulated nodes/, 'and stops');

ok(!$t->wait_port($port, 0.2), 'nothing left listening on its port');

done_testing;
