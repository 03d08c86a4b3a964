#!/usr/bin/perl

# The HAProxy bridge: Debian's haproxy, the bridge loaded with lua-load,
# three simulated nodes.  Passive failover with no client error (HAProxy's
# retries and redispatch), active detection within interval x fall and
# recovery within interval x rise, HAProxy's own state agreeing with the
# bridge's, an operator's MAINT never undone, the panic guard.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep time);
use ClusterHAProxy;

my $t = ClusterHAProxy->new;

$t->sim($_) for qw(web1 web2 web3);

$t->write_haproxy(<<'EOF', <<'EOF');
frontend web
    bind 127.0.0.1:%%PORT_http%%
    http-request use-service lua.cluster_status if { path_beg /cluster }
    default_backend proget

backend proget
    retries 3
    option redispatch 1
    server web1 127.0.0.1:%%PORT_web1%%
    server web2 127.0.0.1:%%PORT_web2%%
    server web3 127.0.0.1:%%PORT_web3%%
EOF
backend proget {
    cluster_heartbeat interval=500ms stale=1m;
    cluster_check uri=/health/json timeout=1s rise=2 fall=2;
    cluster_eject down service_down;
}
EOF

my ($rc, $out) = $t->test_haproxy;
is($rc, 0, 'haproxy -c accepts the configuration') or diag $out;

$t->run_haproxy;

my %addr = map { $_ => '127.0.0.1:' . $t->port($_) } qw(web1 web2 web3);
sub node { $t->node('proget', $addr{$_[0]}) }

ok($t->all_up('proget', 5), 'the three nodes are up once checked');
is_deeply([ sort keys %{$t->spread(30)} ], [qw(web1 web2 web3)],
          'traffic reaches the three');

my $c = $t->cluster('proget');
is($c->{settings}{heartbeat_interval_s}, 0.5, 'the file\'s interval');
is($c->{settings}{rise}, 2, 'and rise');
is($c->{settings}{eject}[0], 'down', 'the default eject');
ok($t->wait_for(sub { node('web1')->{web}{requests} >= 5 }, 1),
   'its answers counted, from HAProxy\'s counters');
ok(node('web1')->{web}{last_heartbeat}, 'a heartbeat');
is(node('web1')->{name}, 'web1', 'named as HAProxy names its server');

# passive failover: a node killed under traffic costs no client an error
my %status;
my $killed_at;
for my $i (1 .. 300) {
    if ($i == 50) {
        $t->stop_sim('web2');
        $killed_at = time;
    }
    $status{$t->get('/')->{status}}++;
}
is_deeply(\%status, { 200 => 300 }, 'web2 killed: 300 requests, all 200');

# active detection, within interval x fall and the check's timeout
ok($t->wait_for(sub { node('web2')->{state} eq 'down' }, 5),
   'web2 found down');
my $detected = time - $killed_at;
cmp_ok($detected, '<', 0.5 * 2 + 1 + 1, "detected in ${\ sprintf '%.2f', $detected} s");
is(node('web2')->{in_rotation}, JSON::PP::false, 'out of rotation');
ok($t->wait_for(sub { $t->haproxy_stat('proget', 'web2', 'status') =~ /^DOWN/ }, 1),
   'HAProxy\'s own stats say DOWN');
like($t->read_file('haproxy.log'),
     qr/\[warning\].*cluster "proget" node "web2" \(\Q$addr{web2}\E\) is down, out of rotation, was up/,
     'the change logged once, at warning');

# recovery, within interval x rise
$t->sim('web2');
my $back_at = time;
ok($t->wait_for(sub { node('web2')->{in_rotation} }, 5), 'web2 back');
my $recovered = time - $back_at;
cmp_ok($recovered, '<', 0.5 * 2 + 1, "recovered in ${\ sprintf '%.2f', $recovered} s");
ok($t->wait_for(sub { $t->haproxy_stat('proget', 'web2', 'status') !~ /DOWN/ }, 2),
   'HAProxy\'s stats agree');

# an operator's MAINT, set on HAProxy's CLI, is the node's and stays
$t->cli('disable server proget/web3');
ok($t->wait_for(sub { node('web3')->{state} eq 'removed' }, 3),
   'MAINT set by hand: the node is removed');
$c = $t->cluster('proget');
is($c->{last_actions}[0]{by}, 'HAProxy (stats page or CLI)',
   'the page says who: HAProxy\'s operator');
sleep 1.5;
like($t->haproxy_stat('proget', 'web3', 'status'), qr/^MAINT/,
     'the bridge never takes it back');
is_deeply([ sort keys %{$t->spread(20)} ], [qw(web1 web2)],
          'no traffic to it');
$t->cli('enable server proget/web3');
ok($t->wait_for(sub { node('web3')->{in_rotation} }, 3),
   'lifted by hand: back in rotation');

# an operator's drain, set on HAProxy's CLI, is the node's and stays, once
$t->cli('set server proget/web3 state drain');
ok($t->wait_for(sub { node('web3')->{state} eq 'drained' }, 3),
   'DRAIN set by hand: the node is drained');
sleep 1.5;
is(node('web3')->{state}, 'drained', 'and stays so');
is($t->count_log(qr/node "web3" .* is drained, out of rotation/, 'haproxy.log'),
   1, 'logged once: the bridge does not undo it and redo it');
$t->cli('set server proget/web3 state ready');
ok($t->wait_for(sub { node('web3')->{in_rotation} }, 3),
   'ready again: back in rotation');

# the panic guard: every node's service down, traffic still goes to all
$t->allow_log(qr/\[alert\].*cluster "proget" is in panic/);
$t->sim_control($_, 'service=error') for qw(web1 web2 web3);
ok($t->wait_for(sub { $t->cluster('proget')->{panic} }, 5),
   'all three services down: panic');
ok((grep { grep { $_ eq 'service_down' } @{$_->{reasons}} }
    @{$t->cluster('proget')->{nodes}}) == 3,
   'all three would be out of rotation, for service_down');
%status = ();
$status{$t->get('/')->{status}}++ for 1 .. 30;
is_deeply(\%status, { 200 => 30 }, 'and every request is still served');
ok($t->wait_for(sub {
       !grep { $t->haproxy_stat('proget', $_, 'status') =~ /DOWN/ }
           qw(web1 web2 web3);
   }, 1), 'HAProxy has them up');
like($t->read_file('haproxy.log'), qr/\[alert\].*cluster "proget" is in panic/,
     'the panic logged at alert');
$t->sim_control($_, 'service=ok') for qw(web1 web2 web3);
ok($t->wait_for(sub { !$t->cluster('proget')->{panic} }, 5), 'panic over');

$t->check_logs;

done_testing;
