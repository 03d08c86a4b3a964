#!/usr/bin/perl

# cluster_state_file: an operator's states and the nodes' last facts are
# written when they change and when nginx exits, and read when it starts
# again; a missing or corrupt file is said in the log and ignored.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use JSON::PP;
use ClusterTest qw(http_request);

my $t = ClusterTest->new(workers => 2);

$t->sim($_) for qw(web1 web2);

my $token = 'a-token-for-the-state-test-0123';
open my $tf, '>', $t->dir . '/token' or die;
print $tf "$token\n";
close $tf;
chmod 0600, $t->dir . '/token';

# the workers write the file: their folder must let them
mkdir $t->dir . '/state';
chmod 0777, $t->dir . '/state';

$t->write_config(<<'EOF');
    cluster_state_file %%DIR%%/state/cluster.json;

    upstream proget {
        server 127.0.0.1:%%PORT_web1%%;
        server 127.0.0.1:%%PORT_web2%%;

        cluster zone=proget_cluster:1m;
        cluster_heartbeat interval=300ms stale=1m;
        cluster_check uri=/health;
    }

    server {
        listen 127.0.0.1:%%PORT_http%%;

        location / {
            proxy_pass http://proget;
        }

        location /cluster {
            cluster_status admin=on token_file=%%DIR%%/token;
        }
    }
EOF

$t->run;

like($t->read_file('error.log'), qr/\[notice\].*cluster state file ".*cluster\.json" not read, starting afresh/,
     'no file at first: said, and ignored');

my %addr = map { $_ => '127.0.0.1:' . $t->port($_) } qw(web1 web2);

ok($t->wait_for(sub {
    !grep { $_->{health}{checks} < 1 } @{$t->cluster('proget')->{nodes}};
}, 5), 'both nodes checked');

$t->spread(6);

is(http_request($t->port('http'), 'POST', "/cluster/nodes/$addr{web2}/remove",
                '', Authorization => "Bearer $token")->{status}, 200,
   'web2 removed');

ok($t->wait_for(sub { $t->read_file('state/cluster.json') =~ /"admin":2/ }, 5),
   'the change is written within a second');

my $saved = decode_json($t->read_file('state/cluster.json'));
my ($w2) = grep { $_->{id} eq $addr{web2} } @{$saved->{nodes}};
is($w2->{cluster}, 'proget', 'by cluster');
is($w2->{release}, '23.0.27', 'with what the node said');
ok(!glob($t->dir . '/state/*.tmp.*'), 'no temporary file left');

my $requests = $t->node('proget', $addr{web1})->{web}{requests};

# a full restart: stop, start
$t->stop;
$t->run;

like($t->read_file('error.log'), qr/cluster state of 2 nodes restored from/,
     'restored at the start');

my $n = $t->node('proget', $addr{web2});
is($n->{state}, 'removed', 'remove survives a restart');
is($n->{in_rotation}, JSON::PP::false, 'and keeps it out');
is($t->node('proget', $addr{web1})->{web}{requests}, $requests,
   'the counters survive too');
is($n->{version}{release}, '23.0.27', 'and what the node said');

my $seen = $t->spread(4);
is_deeply($seen, { web1 => 4 }, 'the removed node gets no traffic');

# a corrupt file: said, ignored, nginx starts all the same
$t->stop;

open my $fh, '>', $t->dir . '/state/cluster.json' or die;
print $fh "{ not json";
close $fh;

$t->run;

like($t->read_file('error.log'),
     qr/\[warn\].*cluster state file ".*cluster\.json" ignored: invalid JSON/,
     'a corrupt file is said at warn');
is($t->node('proget', $addr{web2})->{state} ne 'removed', 1,
   'and ignored');
is($t->get('/')->{status}, 200, 'nginx serves all the same');

$t->check_logs;

done_testing;
