#!/usr/bin/perl

# "make demo" works: it starts its nodes and nginx, shows a node with
# another EncryptionKey and a stopped node out of rotation, and stops all it
# started.

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

like($out, qr/cluster proget, release 23\.0\.27: 4 of 5 nodes in rotation/,
     'four nodes of five at first');
like($out, qr/cluster proget, release 23\.0\.27: 3 of 5 nodes in rotation/,
     'then three');
like($out, qr/127\.0\.0\.15:$node\s+web5\s+up\s+out:key_mismatch\s+23\.0\.27\s+ok\s+ok\s+BAD/,
     'the node with another key is out of rotation');
like($out, qr/web5: Encryption key not in sync: .*\(fingerprint [0-9a-f]{8}\).*Copy the shared EncryptionKey to this node and restart it/,
     'with its hint');
unlike($out, qr/\b[0-9a-f]{32}\b/, 'no key in its output');
like($out, qr/127\.0\.0\.14:$node\s+web4\s+down\s+out:down/,
     'the stopped node is down and out of rotation');
like($out, qr/127\.0\.0\.13:$node\s+web3\s+up\s+in\s+23\.0\.31!/,
     'the node on another release is marked');
like($out, qr/web3: Software version 23\.0\.31 is not in sync/, 'with its hint');
like($out, qr/127\.0\.0\.12:$node\s+web2\s+up\s+in\s+23\.0\.27\s+error/,
     'the node whose service is stopped is marked');
like($out, qr/web2: The service component is not running/, 'with its hint');
like($out, qr{status is at http://127\.0\.0\.1:$port/cluster}, 'says where');
like($out, qr{the token in\ndemo: /\S+/admin\.token}, 'and where the admin token is');
my ($tokfile) = $out =~ m{demo: (/\S+/admin\.token)};
ok(!-e $tokfile, 'which goes with the demo');
like($out, qr/stopped nginx and the simulated nodes/, 'and stops');

ok(!$t->wait_port($port, 0.2), 'nothing left listening on its port');

done_testing;
