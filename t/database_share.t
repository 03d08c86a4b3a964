#!/usr/bin/perl

# What two load balancers share through the database beyond actions: a
# key mismatch one of them proved is shown and ejected by the other, the
# instance named; each lists the other, and each node shows how the other
# sees it; what depends on the path (down) stays each one's own.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use ClusterTest;
use ClusterPostgres;

my $pg = ClusterPostgres->new;

my $password = 'db-password-of-the-share-test-' . int(rand(1e9));
$pg->psql("CREATE ROLE lb LOGIN PASSWORD '$password';"
          . "CREATE DATABASE lb OWNER lb;");

my $shared = '00112233445566778899aabbccddeeff';
my $other = 'ffeeddccbbaa99887766554433221100';

my $a = ClusterTest->new(workers => 1);
$a->sim('web1', key => $shared);
$a->sim('web2', key => $other);
$a->sim('web3', key => $shared);
$a->sim('web4', key => $shared, service => 'error');

my %addr = map { $_ => '127.0.0.1:' . $a->port($_) }
           qw(web1 web2 web3 web4);

sub front {
    my ($t, $name, $nodes, $more) = @_;

    $t->secret('db.pass', $password);
    $t->secret('key', $shared);

    my $pgport = $pg->port;
    my $servers = join "\n", map { "        server $_;" } @$nodes;

    $t->write_config(<<"EOF");
    cluster_database "host=127.0.0.1 port=$pgport dbname=lb user=lb"
                     password_file=%%DIR%%/db.pass instance=$name;

    upstream proget {
$servers

        cluster zone=proget:1m;
        cluster_heartbeat interval=1s stale=1m;
        cluster_key file=%%DIR%%/key;
        cluster_cookie name=^\\.ProGetAuth\$ login=^/log-in;
        ${\ ($more // '') }
    }

    server {
        listen 127.0.0.1:%%PORT_http%%;
        location / { proxy_pass http://proget; }
        location /cluster { cluster_status; }
    }
EOF

    $t->run;
}

# lb1 checks the nodes, lb2 sees them by its traffic alone
front($a, 'lb1', [ @addr{qw(web1 web2 web3 web4)} ],
      'cluster_check uri=/health rise=1 fall=2;');

my $b = ClusterTest->new(workers => 1);
front($b, 'lb2', [ @addr{qw(web1 web2 web3 web4)} ]);

sub node_of {
    my ($t, $web) = @_;
    my ($n) = grep { $_->{id} eq $addr{$web} }
              @{$t->cluster('proget')->{nodes}};
    return $n;
}

for my $t ($a, $b) {
    ok($t->wait_for(sub { $t->status->{database}{status} eq 'connected' },
                    15), 'connected');
}

# sign-ins through lb1 until web2's cookies prove its key differs

ok($a->wait_for(sub {
        $a->get('/log-in');
        node_of($a, 'web2')->{encryption_key}{in_sync}
            // 1 ? 0 : 1
    }, 10), 'lb1 proves web2 key_mismatch');
ok(!node_of($a, 'web2')->{in_rotation}, 'and ejects it');

ok($b->wait_for(sub {
        my $k = node_of($b, 'web2')->{encryption_key};
        defined $k->{in_sync} && !$k->{in_sync}
    }, 5), 'lb2 shows it key_mismatch, though it saw none of its cookies');

my $key = node_of($b, 'web2')->{encryption_key};
is($key->{proved_by}, 'lb1', 'proved by lb1');
is($key->{evidence}, 'crypto', 'by the cryptographic check');
isnt(node_of($b, 'web2')->{state} // '', 'down', 'web2 is not down from lb2');
ok(!node_of($b, 'web2')->{in_rotation}, 'and out of rotation there too');

my %seen;
$seen{$b->get('/')->{headers}{'x-node'} // '?'}++ for 1 .. 30;
ok(!$seen{web2}, 'lb2 sends web2 nothing') or diag(explain(\%seen));

# the facts lb1's checks found, for lb2, which has none: a service down,
# the releases

ok($b->wait_for(sub {
        grep { $_ eq 'service_down' } @{node_of($b, 'web4')->{findings}}
    }, 10), "lb2 shows web4's service down, which lb1's checks found")
    or diag(explain(node_of($b, 'web4')));
ok($b->wait_for(sub { ($b->cluster('proget')->{release} // '') ne '' }, 5),
   "and the cluster's release")
    or diag(explain($b->cluster('proget')->{release}));
is($b->cluster('proget')->{release}, $a->cluster('proget')->{release},
   'the same as lb1');

# each lists the other, alive; each node shows the other's view

ok($a->wait_for(sub {
        grep { $_->{instance} eq 'lb2' && $_->{alive} }
             @{$a->cluster('proget')->{instances}}
    }, 5), 'lb1 lists lb2, alive');

my ($self) = grep { $_->{self} } @{$a->cluster('proget')->{instances}};
is($self->{instance}, 'lb1', 'and itself');

ok($a->wait_for(sub {
        my ($v) = @{node_of($a, 'web1')->{views}};
        $v && $v->{instance} eq 'lb2' && $v->{in_rotation}
    }, 5), 'lb1 shows how lb2 sees web1');

# a node down from one load balancer only: its own, shown as such

$a->stop_sim('web3');
ok($a->wait_for(sub { node_of($a, 'web3')->{state} eq 'down' }, 10),
   'web3 down from lb1');

ok($b->wait_for(sub {
        my ($v) = @{node_of($b, 'web3')->{views}};
        $v && $v->{state} eq 'down'
    }, 5), 'lb2 shows web3 down from lb1');

isnt(node_of($b, 'web3')->{state}, 'down',
     'and keeps its own judgement of web3');
ok(node_of($b, 'web3')->{disagree}, 'the two disagree, and it says so');

# the history: in lb1's document, newest first, and in the database

my ($went) = grep { ($_->{id} // '') eq $addr{web3} && $_->{kind} eq 'state'
                    && $_->{to} eq 'down' } @{$a->cluster('proget')->{events}};
ok($went, 'lb1 says when web3 went down');
is($went->{instance}, 'lb1', '  on lb1');
ok((grep { $_ eq 'down' } @{$went->{reasons} // []}), '  and why')
    or diag(explain($went));

ok($a->wait_for(sub {
        $pg->psql("SELECT count(*) FROM ngx_cluster.events WHERE "
                  . "instance = 'lb1' AND node = '$addr{web3}' "
                  . "AND kind = 'state' AND to_state = 'down' "
                  . "AND reasons LIKE 'down%'", 'lb') =~ /^1$/m
    }, 5), 'the database has it too');

# the page and Prometheus say the same

my $page = $b->get('/cluster', Accept => 'text/html')->{body};
like($page, qr/shared database: connected, as lb2/, 'the page: the database');
like($page, qr{<h3>Load Balancers</h3>.*<strong>lb1</strong>}s,
     'the page: the other load balancer');
like($page, qr{<strong>\Q$addr{web3}\E</strong> is down, out of rotation from lb1},
     'the page: web3 down from lb1 only');

my $metrics = $b->get('/cluster?format=prometheus')->{body};
like($metrics, qr/^nginx_cluster_database_up\{instance="lb2"\} 1$/m,
     'Prometheus: the database is up');
like($metrics, qr/^nginx_cluster_node_view_in_rotation\{[^}]*node="\Q$addr{web3}\E"[^}]*instance="lb1"\} 0$/m,
     'Prometheus: web3 out of rotation from lb1');

open my $fh, '>', $b->dir . '/metrics.txt' or die;
print $fh $metrics;
close $fh;
my $promtool = `promtool check metrics < ${\ $b->dir}/metrics.txt 2>&1`;
is($?, 0, 'promtool check metrics passes') or diag $promtool;

my $history = $a->get('/cluster', Accept => 'text/html')->{body};
like($history, qr{<h3>Recent Events</h3>.*<strong>\Q$addr{web3}\E</strong> down, out of rotation, was up}s,
     'the page: the history');

$_->check_logs for ($a, $b);

done_testing();
