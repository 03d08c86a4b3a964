#!/usr/bin/perl

# An nginx and a HAProxy in front of one cluster share one truth through
# PostgreSQL: the bridge's cluster_database, on a thread of its own, with
# the same statements and merge rules as the nginx module.  A drain on
# nginx drains the node in HAProxy too (HAProxy's own stats agree), a
# restore on HAProxy restores it on nginx; each lists the other and shows
# how it sees each node; the password is in no log and on no page; a
# database that stops answering stops neither.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep time);
use ClusterTest qw(http_request);
use ClusterHAProxy;
use ClusterPostgres;

# Under the sanitizers, HAProxy starts with glibc's lock of translations
# (_nl_state_lock) found in a state no unlock can leave (its readers' count
# below zero, before main), and libpq's first translated message then waits
# on it forever; the bridge's database thread is tested in the release
# build only (the nginx module's database code runs under the sanitizers).
plan(skip_all => 'HAProxy with the sanitizers\' runtime preloaded: glibc\'s '
                 . 'translation lock is broken before main, libpq waits on it')
    if $ENV{CLUSTER_SANITIZE};

my $pg = ClusterPostgres->new;

my $password = 'db-password-of-the-bridge-test-' . int(rand(1e9));
$pg->psql("CREATE ROLE lb LOGIN PASSWORD '$password';"
          . "CREATE DATABASE lb OWNER lb;");
my $pgport = $pg->port;

my $n = ClusterTest->new(workers => 1);
$n->sim($_) for qw(web1 web2 web3);
my %addr = map { $_ => '127.0.0.1:' . $n->port($_) } qw(web1 web2 web3);

$n->secret('db.pass', $password);
$n->secret('token', 'the-admin-token-of-the-test-42');

$n->write_config(<<"EOF");
    cluster_database "host=127.0.0.1 port=$pgport dbname=lb user=lb"
                     password_file=%%DIR%%/db.pass instance=nginx1;

    upstream proget {
        server $addr{web1};
        server $addr{web2};
        server $addr{web3};

        cluster zone=proget:1m;
        cluster_heartbeat interval=1s stale=1m;
        cluster_check uri=/health rise=1 fall=2;
    }

    server {
        listen 127.0.0.1:%%PORT_http%%;
        location / { proxy_pass http://proget; }
        location /cluster {
            cluster_status admin=on token_file=%%DIR%%/token;
        }
    }
EOF

$n->run;

my $h = ClusterHAProxy->new;
$h->secret('db.pass', $password);
$h->secret('token', 'the-admin-token-of-the-test-42');

$h->write_haproxy(<<"HAPROXY", <<"CLUSTER");
frontend web
    bind 127.0.0.1:%%PORT_http%%
    http-request use-service lua.cluster_status if { path_beg /cluster }
    default_backend proget

backend proget
    server web1 $addr{web1}
    server web2 $addr{web2}
    server web3 $addr{web3}
HAPROXY
cluster_status admin=on token_file=%%DIR%%/token;
cluster_database "host=127.0.0.1 port=$pgport dbname=lb user=lb"
                 password_file=%%DIR%%/db.pass instance=haproxy1;

backend proget {
    cluster_heartbeat interval=1s stale=1m;
    cluster_check uri=/health rise=1 fall=2;
}
CLUSTER

$h->run_haproxy;

for my $t ($n, $h) {
    ok($t->wait_for(sub { $t->status->{database}{status} eq 'connected' }, 15),
       ref($t) . ': connected');
}

sub node_of {
    my ($t, $web) = @_;
    my ($x) = grep { $_->{id} eq $addr{$web} }
              @{$t->cluster('proget')->{nodes}};
    return $x;
}

ok($h->wait_for(sub {
       my $c = $h->cluster('proget');
       (grep { $_->{instance} eq 'nginx1' && $_->{alive} } @{$c->{instances}})
   }, 10), 'HAProxy lists the nginx');
ok($n->wait_for(sub {
       my $c = $n->cluster('proget');
       (grep { $_->{instance} eq 'haproxy1' && $_->{alive} } @{$c->{instances}})
   }, 10), 'and the nginx lists HAProxy');
ok($h->wait_for(sub { (grep { $_->{instance} eq 'nginx1' }
                       @{node_of($h, 'web1')->{views}}) }, 10),
   'HAProxy shows how nginx sees web1');

# drained on nginx, drained in HAProxy
my $bearer = 'Bearer the-admin-token-of-the-test-42';
my $r = http_request($n->port('http'), 'POST',
                     "/cluster/nodes/$addr{web2}/drain", '',
                     Authorization => $bearer);
is($r->{status}, 200, 'web2 drained on nginx');

my $t0 = time;
ok($h->wait_for(sub { node_of($h, 'web2')->{state} eq 'drained' }, 5),
   'HAProxy has it drained');
my $took = time - $t0;
cmp_ok($took, '<', 2, sprintf 'within %.2f s', $took);
ok($h->wait_for(sub { $h->haproxy_stat('proget', 'web2', 'status') =~ /^DOWN/ }, 2),
   'and HAProxy\'s own stats have it out');
is_deeply([ sort keys %{$h->spread(20)} ], [qw(web1 web3)],
          'no traffic to it through HAProxy');
like($h->read_file('haproxy.log'),
     qr/cluster "proget" node "web2": drain by token from 127\.0\.0\.1 on nginx1, from the database/,
     'HAProxy logs whose action it took');

# restored on HAProxy, restored on nginx
$r = http_request($h->port('http'), 'POST',
                  "/cluster/nodes/$addr{web2}/restore", '',
                  Authorization => $bearer);
is($r->{status}, 200, 'restored on HAProxy');
ok($n->wait_for(sub { node_of($n, 'web2')->{in_rotation} }, 5),
   'nginx has it back');
is($n->cluster('proget')->{last_actions}[0]{by} =~ /haproxy1/ ? 1 : 0, 1,
   'by HAProxy, as nginx\'s page says');

# the database stops answering: both go on
$pg->freeze;
ok($h->wait_for(sub { $h->status->{database}{status} eq 'unreachable' }, 20),
   'frozen: HAProxy says the database is unreachable');
my %status;
$status{$h->get('/')->{status}}++ for 1 .. 20;
is_deeply(\%status, { 200 => 20 }, 'and serves on');
$pg->cont;
ok($h->wait_for(sub { $h->status->{database}{status} eq 'connected' }, 40),
   'back: connected again');

my $all = $h->read_file('haproxy.log') . $h->get('/cluster')->{body}
          . $h->get('/cluster?format=html')->{body};
unlike($all, qr/\Q$password\E/, 'the password is in no log or page');

$h->allow_log(qr/cluster database unreachable/);
$h->check_logs;
$n->check_logs;

done_testing;
