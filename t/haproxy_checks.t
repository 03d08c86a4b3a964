#!/usr/bin/perl

# The bridge's checks read every documented /health body (ProGet's JSON up
# to 2025, ProGet 2026's text with /health/json, BuildMaster's), find
# version skew, a service down and a blocked messenger port; the admin
# actions keep the nginx module's rules; operator states and facts cross
# a reload (haproxy -sf) through the state file; the Lua loaded once per
# thread shares one cluster.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep time);
use ClusterHAProxy;
use ClusterTest qw(http_request);

my $t = ClusterHAProxy->new;

$t->sim('json', health => 'json2025', version => '23.0.27',
        messenger => $t->port('json_m'));
# on an address of its own, where nothing listens on the messenger port
$t->sim('text', health => 'text2026', version => '23.0.27',
        listen => '127.0.0.2');
$t->sim('bm', health => 'buildmaster', version => '23.0.27');
$t->sim('old', version => '22.0.9');

$t->secret('token', 'a-token-of-the-test-0123456789');

my $sections = <<'EOF';
frontend web
    bind 127.0.0.1:%%PORT_http%%
    http-request use-service lua.cluster_status if { path_beg /cluster }
    default_backend proget

backend proget
    server json 127.0.0.1:%%PORT_json%%
    server text 127.0.0.2:%%PORT_text%%
    server bm 127.0.0.1:%%PORT_bm%%
    server old 127.0.0.1:%%PORT_old%%
EOF

my $cluster = <<'EOF';
# the bridge's file: nginx's directives, per backend
cluster_status admin=on token_file=%%DIR%%/token;
cluster_state_file %%DIR%%/cluster.state;

backend proget {
    cluster_heartbeat interval=500ms stale=1m;
    cluster_check timeout=1s rise=1 fall=1 messenger=%%PORT_json_m%%;
    cluster_eject down version_skew service_down;
    cluster_node_name 127.0.0.1:%%PORT_old%% "old one";
}
EOF

# the messenger port is the cluster's, the same on every node: "json"
# listens on it, on the address the others on 127.0.0.1 share
$t->write_haproxy($sections, $cluster, per_thread => 1);
$t->run_haproxy;

my %addr = map { $_ => '127.0.0.1:' . $t->port($_) } qw(json bm old);
$addr{text} = '127.0.0.2:' . $t->port('text');
sub node { $t->node('proget', $addr{$_[0]}) }

ok($t->wait_for(sub {
       my $c = $t->cluster('proget');
       !grep { $_->{state} eq 'checking' || !$_->{health}{last_check} }
           @{$c->{nodes}};
   }, 5), 'checked, with the Lua in each thread');

my $n = node('json');
is($n->{version}{release}, '23.0.27', 'ProGet JSON: its release');
is($n->{service}{messenger}, 'ok', 'and its messenger port answers');
is($n->{in_rotation}, JSON::PP::true, 'in rotation');

$n = node('text');
is($n->{version}{release}, '23.0.27', 'ProGet 2026 text, through /health/json');
is($n->{service}{messenger}, 'unreachable', 'messenger port blocked: seen');

$n = node('bm');
is($n->{health}{application}, 'BuildMaster', 'BuildMaster\'s body read');

$n = node('old');
is($n->{name}, 'old one', 'named by cluster_node_name');
is($n->{version}{in_sync}, JSON::PP::false, 'an older release: version skew');
ok((grep { $_ eq 'version_skew' } @{$n->{reasons}}), 'out for version_skew');
is($n->{in_rotation}, JSON::PP::false, 'out of rotation');

# a service stopped
$t->sim_control('bm', 'service=error');
ok($t->wait_for(sub { grep { $_ eq 'service_down' } @{node('bm')->{reasons}} }, 3),
   'BuildMaster\'s service stopped: service_down');
$t->sim_control('bm', 'service=ok');
ok($t->wait_for(sub { node('bm')->{in_rotation} }, 3), 'started again: back');

# a node that drips its answer, a byte at a time: the check's deadline
# holds, the node goes down, and its task goes on checking it
$t->sim_control('bm', 'answer=drip');
ok($t->wait_for(sub { node('bm')->{state} eq 'down' }, 6),
   'a dripping answer: down');
like(node('bm')->{health}{reason} // '', qr/timed out/, 'the check timed out');
$t->sim_control('bm', 'reset=1');
ok($t->wait_for(sub { node('bm')->{in_rotation} }, 6),
   'answering again: back, its checks went on');

# the admin actions, as in nginx: POST, a token, no cross-site request
my $url = '/cluster/nodes/' . $addr{json} . '/drain';
my $port = $t->port('http');
my $r = http_request($port, 'GET', $url);
is($r->{status}, 405, 'GET never acts');
$r = http_request($port, 'POST', $url, '');
is($r->{status}, 401, 'no token: 401');
like($r->{headers}{'www-authenticate'}, qr/^Bearer/, 'with the challenge');
$r = http_request($port, 'POST', $url, '',
                  Authorization => 'Bearer not-the-token-0123456789');
is($r->{status}, 401, 'a wrong token: 401');
$r = http_request($port, 'POST', $url, '',
                  Authorization => 'Bearer a-token-of-the-test-0123456789',
                  Origin => 'http://elsewhere.example');
is($r->{status}, 403, 'cross-site: 403');
$r = http_request($port, 'POST', $url, '',
                  Authorization => 'Bearer a-token-of-the-test-0123456789',
                  'Sec-Fetch-Site' => 'cross-site');
is($r->{status}, 403, 'Sec-Fetch-Site cross-site: 403');
is(node('json')->{state}, 'up', 'nothing done');

$r = http_request($port, 'POST', $url, '',
                  Authorization => 'Bearer a-token-of-the-test-0123456789');
is($r->{status}, 200, 'with the token: drained');
is(node('json')->{state}, 'drained', 'the node is drained');
is($t->cluster('proget')->{last_actions}[0]{by}, 'token from 127.0.0.1',
   'the page says by whom');
like($t->read_file('haproxy.log'),
     qr/cluster admin action refused: cross-site request, client: 127\.0\.0\.1/,
     'a refusal logged, with the client');
unlike($t->read_file('haproxy.log'), qr/a-token-of-the-test/,
       'the token is in no log');

# across a reload: the drain and the facts stay
my $checks = node('text')->{health}{checks};
sleep 0.5;    # the state file is written within 200 ms of a change
$t->run_haproxy;
is(node('json')->{state}, 'drained', 'after haproxy -sf: still drained');
cmp_ok(node('text')->{health}{checks}, '>=', $checks,
       'the checks counted before kept');
like($t->read_file('haproxy.log'), qr/cluster state file ".*": 4 nodes restored/,
     'the state file read');

$r = http_request($port, 'POST', '/cluster/nodes/' . $addr{json} . '/restore',
                  '', Authorization => 'Bearer a-token-of-the-test-0123456789');
is($r->{status}, 200, 'restored');
ok($t->wait_for(sub { node('json')->{in_rotation} }, 3), 'back in rotation');

$t->check_logs;

done_testing;
