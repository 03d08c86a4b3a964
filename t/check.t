#!/usr/bin/perl

# Active checks: each node's /health read as ProGet up to 2025, ProGet 2026
# and BuildMaster answer it; Web and Service components, the messenger port,
# version sync; a node that fails "fall" checks leaves rotation and comes
# back after "rise" good ones, with no client traffic at all.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep time);
use ClusterTest;

my $t = ClusterTest->new(workers => 2);

# each node on an address of its own, so that all share the messenger port
my %ip = (web1 => '127.0.0.11', web2 => '127.0.0.12', web3 => '127.0.0.13');
my $messenger = $t->port('messenger');

$t->sim('web1', listen => $ip{web1}, health => 'json2025',
        version => '23.0.27', messenger => $messenger);
$t->sim('web2', listen => $ip{web2}, health => 'text2026',
        version => '23.0.27', messenger => $messenger);
$t->sim('web3', listen => $ip{web3}, health => 'buildmaster',
        version => '23.0.31');

$t->write_config(<<"EOF");
    upstream proget {
        server $ip{web1}:%%PORT_web1%%;
        server $ip{web2}:%%PORT_web2%%;
        server $ip{web3}:%%PORT_web3%%;

        cluster zone=proget_cluster:1m;
        cluster_node_name $ip{web1}:%%PORT_web1%% web-one;
        cluster_heartbeat interval=300ms stale=5s;
        cluster_check timeout=1s rise=2 fall=2 messenger=$messenger;
    }

    server {
        listen 127.0.0.1:%%PORT_http%%;

        location / {
            proxy_pass http://proget;
        }

        location /cluster {
            cluster_status;
        }
    }
EOF

$t->run;

my %addr = map { $_ => "$ip{$_}:" . $t->port($_) } qw(web1 web2 web3);

sub node { $t->node('proget', $addr{$_[0]}) }

ok($t->wait_for(sub {
    !grep { $_->{health}{checks} < 2 } @{$t->cluster('proget')->{nodes}};
}, 5), 'every node is checked, with no client traffic');

my $c = $t->cluster('proget');
is($c->{settings}{active_checks}, JSON::PP::true, 'active checks on');
is($c->{settings}{passive_trials}, JSON::PP::false, 'trials off');
is($c->{settings}{messenger_port}, $messenger, 'the messenger port shown');
is($c->{release}, '23.0.27', "the cluster's release is the majority's");

my $n = node('web1');
is($n->{state}, 'up', 'ProGet 2025: up');
is($n->{name}, 'web-one', 'named as configured');
is($t->sim_stats('web1')->{health_host}, $addr{web1},
   'its check names the server line as Host, not the name');
is($n->{health}{status_code}, 200, 'its check answered 200');
is($n->{health}{application}, 'ProGet', 'the product');
is($n->{health}{database}, 'OK', 'the database');
is($n->{version}{release}, '23.0.27', 'its release');
is($n->{version}{display}, '2023.27 (Build 1)', 'its version as displayed');
is($n->{version}{in_sync}, JSON::PP::true, 'in sync');
is($n->{service}{status}, 'ok', 'the service component is ok');
is($n->{service}{messenger}, 'ok', 'the messenger port answers');
ok(defined $n->{service}{heartbeat_age_s}, 'the service has a heartbeat');
ok($n->{web}{heartbeat_age_s} < 1, 'checks keep the web heartbeat fresh');
is($n->{web}{requests}, 0, 'without a single request');

$n = node('web2');
is($n->{state}, 'up', 'ProGet 2026: up');
is($n->{version}{release}, '23.0.27', 'read from /health/json');

$n = node('web3');
is($n->{state}, 'up', 'BuildMaster: up');
is($n->{name}, 'web3', 'named by its instanceName');
is($n->{health}{application}, 'BuildMaster', 'the product');
is($n->{version}{release}, '23.0.31', 'read from /health, after a 404');
is($n->{version}{in_sync}, JSON::PP::false, 'a release out of sync');
is_deeply($n->{findings}, ['version_skew', 'service_down'],
          'version_skew, and service_down for its closed messenger port');
is($n->{service}{messenger}, 'unreachable', 'the messenger port is closed');
is($n->{in_rotation}, JSON::PP::true, 'neither ejected by default');
ok((grep { /Software version 23\.0\.31 is not in sync with the cluster's \(23\.0\.27\)/ }
    @{$n->{hints}}), 'the version hint');
ok((grep { /Cannot connect to service messenger on port $messenger/ }
    @{$n->{hints}}), 'the messenger hint');
my @web3 = grep { /node "\Q$addr{web3}\E"/ } split /\n/, $t->read_file('error.log');
my ($first) = grep { /findings: .*version_skew/ } @web3;
like($first, qr/\[warn\]/, 'the version out of sync is logged at warn');
is(scalar(grep { /\[warn\]/ } @web3), 2, 'as is the service, each once')
    or diag join "\n", @web3;

is(node('web3')->{health}{checks} <= node('web1')->{health}{checks} + 1, 1,
   'the fallback to /health counts as one check');

# a stopped service: degraded, shown, not ejected
$t->sim_control('web1', 'service=error');

ok($t->wait_for(sub { node('web1')->{service}{status} eq 'error' }, 5),
   'a stopped service is an error after "fall" checks');
$n = node('web1');
is($n->{health}{status_code}, 500, 'the product answered 500');
like($n->{health}{reason}, qr/^degraded: service error: The service is not running\./,
     'a degraded check, with its reason');
is($n->{state}, 'up', 'the web node itself stays up');
is($n->{in_rotation}, JSON::PP::true, 'and in rotation');
ok((grep { /The service component is not running \(The service is not running\)\. Start the ProGet Service on this node\./ }
    @{$n->{hints}}), 'the service hint');

$t->sim_control('web1', 'reset=1');
ok($t->wait_for(sub { node('web1')->{service}{status} eq 'ok' }, 5),
   'the service back: ok');

# a node that dies: out after "fall" checks, back after "rise"
my $t0 = time;
$t->stop_sim('web2');

ok($t->wait_for(sub { node('web2')->{state} eq 'down' }, 5),
   'a dead node goes down with no client traffic');
my $detect = time - $t0;
$n = node('web2');
is($n->{in_rotation}, JSON::PP::false, 'out of rotation');
like($n->{health}{reason}, qr/^(connection refused or unreachable|connect: Connection refused|connection reset)$/,
     'the reason');
ok((grep { /The web server does not answer its health check/ } @{$n->{hints}}),
   'the hint');
is(scalar @{$n->{hints}}, 1,
   'only that one: what else it said is from before it stopped');
ok($detect < 3, "detected in ${\ sprintf '%.2f', $detect} s (interval x fall = 0.6 s)");

$t0 = time;
$t->sim('web2', listen => $ip{web2}, health => 'text2026',
        version => '23.0.27', messenger => $messenger);

ok($t->wait_for(sub { node('web2')->{state} eq 'up' }, 5),
   'back up after "rise" good checks, with no client traffic');
my $recover = time - $t0;
is(node('web2')->{in_rotation}, JSON::PP::true, 'in rotation');
ok($recover < 3, "recovered in ${\ sprintf '%.2f', $recover} s (interval x rise = 0.6 s)");

is($t->count_log(qr/\[warn\].*\Q$addr{web2}\E.* is down, out of rotation, was up/), 1,
   'going down is logged once');
is($t->count_log(qr/\[notice\].*\Q$addr{web2}\E.* is up, in rotation, was down/),
   1, 'coming back is logged once');

# requests spread over the nodes
my $seen = $t->spread(12);
is(scalar(keys %$seen), 3, 'traffic reaches all three') or diag explain $seen;

$t->check_logs;

done_testing;
