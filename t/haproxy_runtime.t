#!/usr/bin/perl

# Servers added and deleted at run time on HAProxy's CLI ("add server",
# "del server").  HAProxy 2.8 and later tell the bridge: a server added
# takes one of the backend's spare records (cluster_spare_nodes) and is a
# node like the others: shown, checked, taken out of rotation in HAProxy
# when it stops; one added with no spare left is said once and routed by
# HAProxy unjudged; a server deleted leaves the status, and its record is
# taken by the next one added.  HAProxy 2.6 has "add server", but tells
# its Lua of no server added or deleted: a server added is no node until a
# reload, and a node whose server is deleted is shown removed.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep time);
use ClusterHAProxy;

my $t = ClusterHAProxy->new;

my (undef, undef, $version) = $t->haproxy_version;
my $told = $t->haproxy_atleast(2, 8);
my $why = "HAProxy $version: its Lua is told of no server added or deleted "
          . '(core.event_sub, from 2.8)';

$t->sim($_) for qw(web1 web2 web3 web4);

$t->write_haproxy(<<'EOF', <<'EOF');
frontend web
    bind 127.0.0.1:%%PORT_http%%
    http-request use-service lua.cluster_status if { path_beg /cluster }
    default_backend proget

backend proget
    balance roundrobin
    server web1 127.0.0.1:%%PORT_web1%%
    server web2 127.0.0.1:%%PORT_web2%%
EOF
backend proget {
    cluster_heartbeat interval=500ms stale=1m;
    cluster_check timeout=1s rise=2 fall=2;
    cluster_spare_nodes 1;
}
EOF

$t->run_haproxy;

ok($t->all_up('proget', 5), 'the two nodes up');

sub id { '127.0.0.1:' . $t->port($_[0]) }
sub names { join ' ', sort map { $_->{name} } @{$t->cluster('proget')->{nodes}} }

# "del server" wants the server in maintenance, and without connections
sub delete_server {
    my ($name) = @_;

    $t->cli("disable server proget/$name");
    $t->cli("shutdown sessions server proget/$name");

    my $answer = '';
    $t->wait_for(sub {
        $answer = $t->cli("del server proget/$name");
        $answer =~ /Server deleted/i;
    }, 5);

    return $answer;
}

sub add_server {
    my ($name) = @_;

    my $answer = $t->cli("add server proget/$name " . id($name));
    $t->cli("enable server proget/$name");
    return $answer;
}

like(add_server('web3'), qr/New server registered|added/i,
     "HAProxy $version adds web3");

SKIP: {
    skip $why, 12 unless $told;

    ok($t->wait_for(sub {
           $t->count_log(qr/server "web3" added at run time: a node/,
                         'haproxy.log') }, 3),
       'the server added is said in the log');

    ok($t->wait_for(sub { $t->node('proget', id('web3')) }, 3),
       'web3 on the status, from a spare record');
    ok($t->wait_for(sub {
           my $n = $t->node('proget', id('web3'));
           $n && $n->{state} eq 'up' && $n->{in_rotation} }, 6),
       'web3 up by the bridge\'s checks, in rotation');
    ok($t->wait_for(sub { $t->spread(12)->{web3} }, 3), 'web3 served');

    # the one spare is taken: web4 is HAProxy's alone
    like(add_server('web4'), qr/New server registered/i, 'web4 added');
    ok($t->wait_for(sub {
           $t->count_log(qr/"web4" added at run time, and no spare record/,
                         'haproxy.log') }, 3),
       'no spare left: said in the log');
    ok($t->wait_for(sub { $t->spread(12)->{web4} }, 3),
       'web4 routed by HAProxy');
    is(names(), 'web1 web2 web3', 'web4 is no node of the cluster');

    # web3 stops: out of rotation, forced down in HAProxy
    $t->stop_sim('web3');
    ok($t->wait_for(sub {
           my $n = $t->node('proget', id('web3'));
           $n->{state} eq 'down' && !$n->{in_rotation} }, 5),
       'web3 stopped: down, out of rotation');
    ok($t->wait_for(sub {
           ($t->haproxy_stat('proget', 'web3', 'status') // '') =~ /^DOWN/ },
           1), 'HAProxy\'s own stats: web3 forced down')
        or diag $t->haproxy_stat('proget', 'web3', 'status');
    my $spread = $t->spread(12);
    ok(!$spread->{web3} && !grep(/status/, keys %$spread),
       'no request to web3, none failed')
        or diag explain $spread;

    # web3 deleted: gone from the status, its record free again
    like(delete_server('web3'), qr/Server deleted/i, 'web3 deleted');
}

SKIP: {
    skip $why, 6 unless $told;

    ok($t->wait_for(sub { !$t->node('proget', id('web3')) }, 3),
       'web3 gone from the status');
    ok($t->count_log(qr/server "web3" deleted at run time/, 'haproxy.log'),
       'said in the log');

    # web4, deleted and added again, takes the record web3 left
    like(delete_server('web4'), qr/Server deleted/i, 'web4 deleted');
    like(add_server('web4'), qr/New server registered/i, 'web4 added again');
    ok($t->wait_for(sub {
           my $n = $t->node('proget', id('web4'));
           $n && $n->{state} eq 'up' && $n->{in_rotation} }, 6),
       'web4 a node now, up');
    is(names(), 'web1 web2 web4', 'in web3\'s record: nothing else grew');
}

unless ($told) {
    sleep 1;
    is(names(), 'web1 web2', 'HAProxy 2.6: web3 no node until a reload');
    like(delete_server('web3'), qr/Server deleted/i, 'web3 deleted');
}

# web2, a server of haproxy.cfg, deleted where HAProxy lets it be
my $answer = delete_server('web2');
note("del server proget/web2: $answer");

SKIP: {
    skip "HAProxy $version keeps web2: $answer", 1
        unless $answer =~ /Server deleted/i;

    if ($told) {
        ok($t->wait_for(sub { !$t->node('proget', id('web2')) }, 3),
           'a node of haproxy.cfg deleted: gone from the status');
    } else {
        ok($t->wait_for(sub { $t->node('proget', id('web2'))->{state}
                                  eq 'removed' }, 3),
           'the node of a server deleted is removed');
    }
}

ok($t->wait_for(sub { $t->node('proget', id('web1'))->{in_rotation} }, 2),
   'web1 judged as before');
is($t->get('/')->{status}, 200, 'traffic flows');

$t->stop;
$t->check_logs;
my @lua = grep { /Lua|cluster "proget": / && !/at run time/ }
          split /\n/, $t->read_file('haproxy.log');
is(scalar(grep { /error|attempt|nil/ } @lua), 0, 'no Lua error')
    or diag join "\n", @lua;

done_testing;
