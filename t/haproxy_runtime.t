#!/usr/bin/perl

# Servers added and deleted at run time on HAProxy's CLI ("add server",
# "del server"): a server added is not a node until a reload (the bridge's
# nodes are the backend's servers at the start), and HAProxy 2.8 and later
# tell the bridge, which says so once in the log; a node whose server is
# deleted is an operator's removal, and costs the bridge no error.  HAProxy
# 2.6 has "add server", but tells its Lua of no server added or deleted.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep time);
use ClusterHAProxy;

my $t = ClusterHAProxy->new;

my (undef, undef, $version) = $t->haproxy_version;

$t->sim($_) for qw(web1 web2 web3);

$t->write_haproxy(<<'EOF', <<'EOF');
frontend web
    bind 127.0.0.1:%%PORT_http%%
    http-request use-service lua.cluster_status if { path_beg /cluster }
    default_backend proget

backend proget
    server web1 127.0.0.1:%%PORT_web1%%
    server web2 127.0.0.1:%%PORT_web2%%
EOF
backend proget {
    cluster_heartbeat interval=500ms stale=1m;
    cluster_check timeout=1s rise=2 fall=2;
}
EOF

$t->run_haproxy;

ok($t->all_up('proget', 5), 'the two nodes up');

my $answer = $t->cli('add server proget/web3 127.0.0.1:' . $t->port('web3'));
like($answer, qr/New server registered|added/i, "HAProxy $version adds web3")
    or diag $answer;
$t->cli('enable server proget/web3');

SKIP: {
    skip "HAProxy $version: its Lua sees no server added at run time "
         . '(core.event_sub exists from 2.8)', 1
        unless $t->haproxy_atleast(2, 8);

    ok($t->wait_for(sub {
           $t->count_log(qr/server "web3" added at run time/, 'haproxy.log') }, 3),
       'the server added is said in the log');
}

sleep 1;
my @nodes = map { $_->{name} } @{$t->cluster('proget')->{nodes}};
is("@nodes", 'web1 web2', 'not a node until a reload');

# web3 deleted again (HAProxy wants it in maintenance first)
$t->cli('disable server proget/web3');
$answer = $t->cli('del server proget/web3');
like($answer, qr/Server deleted/i, 'web3 deleted') or diag $answer;

SKIP: {
    skip "HAProxy $version: its Lua is told of no server deleted", 1
        unless $t->haproxy_atleast(2, 8);

    ok($t->wait_for(sub {
           $t->count_log(qr/server "web3" deleted at run time/, 'haproxy.log') }, 3),
       'said in the log');
}

# web2, a node, deleted, where HAProxy lets it be: an operator's removal
$t->cli('disable server proget/web2');
$answer = $t->cli('del server proget/web2');
note("del server proget/web2: $answer");

SKIP: {
    skip "HAProxy $version keeps web2: $answer", 1
        unless $answer =~ /Server deleted/i;

    ok($t->wait_for(sub {
           $t->node('proget', '127.0.0.1:' . $t->port('web2'))->{state}
               eq 'removed' }, 3),
       'the node of a server deleted is removed');
}

ok($t->wait_for(sub {
       $t->node('proget', '127.0.0.1:' . $t->port('web1'))->{in_rotation} },
   2), 'web1 judged as before');
is($t->get('/')->{status}, 200, 'traffic flows');

$t->stop;
$t->check_logs;
my @lua = grep { /Lua|cluster "proget": / && !/added at run time/ }
          split /\n/, $t->read_file('haproxy.log');
is(scalar(grep { /error|attempt|nil/ } @lua), 0, 'no Lua error')
    or diag join "\n", @lua;

done_testing;
