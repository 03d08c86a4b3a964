#!/usr/bin/perl

# Two nginx in front of one cluster share their operators' actions through
# a real PostgreSQL: a drain on one is honoured by the other within a
# second, a restore likewise; a load balancer started afresh starts from
# the database's truth; a database that refuses the password is said on
# the page and in the log, and traffic goes on; the password is shown
# nowhere.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use Time::HiRes qw(time sleep);
use ClusterTest qw(http_request);
use ClusterPostgres;

my $pg = ClusterPostgres->new;

my $password = 'db-password-of-the-test-' . int(rand(1e9));
$pg->psql("CREATE ROLE lb LOGIN PASSWORD '$password';"
          . "CREATE DATABASE lb OWNER lb;");

my $token = 'a-token-of-the-database-test-0123456789';

my $a = ClusterTest->new(workers => 2);
$a->sim($_) for qw(web1 web2 web3);

my %addr = map { $_ => '127.0.0.1:' . $a->port($_) } qw(web1 web2 web3);

# an nginx in front of the same three nodes, as instance $name
sub front {
    my ($t, $name, $pass) = @_;

    $t->secret('db.pass', $pass);
    $t->secret('token', $token);

    my $pgport = $pg->port;

    $t->write_config(<<"EOF");
    cluster_database "host=127.0.0.1 port=$pgport dbname=lb user=lb"
                     password_file=%%DIR%%/db.pass instance=$name;

    upstream proget {
        server $addr{web1};
        server $addr{web2};
        server $addr{web3};

        cluster zone=proget:1m;
    }

    server {
        listen 127.0.0.1:%%PORT_http%%;

        location / { proxy_pass http://proget; }

        location /cluster {
            cluster_status admin=on token_file=%%DIR%%/token;
        }
    }
EOF

    $t->run;
    return $t;
}

sub database { $_[0]->status->{database} }

sub state_of {
    my ($t, $web) = @_;
    my ($n) = grep { $_->{id} eq $addr{$web} }
              @{$t->cluster('proget')->{nodes}};
    return $n->{state};
}

sub act {
    my ($t, $web, $action) = @_;
    return http_request($t->port('http'), 'POST',
                        "/cluster/nodes/$addr{$web}/$action", '',
                        Authorization => "Bearer $token");
}

front($a, 'lb1', $password);

my $b = ClusterTest->new(workers => 2);
front($b, 'lb2', $password);

for my $t ($a, $b) {
    ok($t->wait_for(sub { database($t)->{status} eq 'connected' }, 15),
       'the database is connected')
        or diag(explain(database($t)));
}

is(database($a)->{instance}, 'lb1', 'the instance is named');

# a drain on one, honoured by the other within a second

is(act($a, 'web2', 'drain')->{status}, 200, 'web2 drained on lb1');
my $t0 = time;

ok($b->wait_for(sub { state_of($b, 'web2') eq 'drained' }, 5),
   'lb2 drains web2 too');
my $took = time - $t0;
cmp_ok($took, '<', 1, "within a second (took ${\ sprintf '%.2f', $took} s)");

my %seen;
$seen{$b->get('/')->{headers}{'x-node'} // '?'}++ for 1 .. 30;
ok(!$seen{web2}, 'lb2 sends web2 nothing')
    or diag(explain(\%seen));

my ($action) = @{$b->cluster('proget')->{last_actions} // []};
like($action->{by} // '', qr/ on lb1$/,
     'lb2 says the action was taken on lb1');

# a restore on the other, back within a second

is(act($b, 'web2', 'restore')->{status}, 200, 'web2 restored on lb2');
$t0 = time;
ok($a->wait_for(sub { state_of($a, 'web2') ne 'drained' }, 5),
   'lb1 restores web2 too');
cmp_ok(time - $t0, '<', 1, 'within a second');

# the worker that holds the connection dies: another takes it over

my ($owner) = $b->read_file('error.log')
    =~ /.*\[notice\] (\d+)#\d+: cluster database connected/s;
ok($owner, "lb2's worker $owner holds the connection");
$b->allow_log(qr/worker process $owner exited on signal 9/);
kill 'KILL', $owner;

is(act($a, 'web1', 'drain')->{status}, 200, 'web1 drained on lb1');
$t0 = time;
ok($b->wait_for(sub { state_of($b, 'web1') eq 'drained' }, 10),
   'lb2 drains it too, through another worker');
cmp_ok(time - $t0, '<', 4, 'taken over within two seconds, and connected');
is(act($a, 'web1', 'restore')->{status}, 200, 'web1 restored');
ok($b->wait_for(sub { state_of($b, 'web1') ne 'drained' }, 5),
   'on lb2 too');

# a load balancer started afresh starts from the database's truth

$b->stop;
is(act($a, 'web3', 'remove')->{status}, 200, 'web3 removed on lb1');
ok($a->wait_for(sub { database($a)->{queued} == 0 }, 5),
   'and written to the database');

my $c = ClusterTest->new(workers => 1);
front($c, 'lb3', $password);
ok($c->wait_for(sub { state_of($c, 'web3') eq 'removed' }, 10),
   'a new load balancer starts with web3 removed');
isnt(state_of($c, 'web2'), 'drained', 'and web2 restored');
$c->stop;

# a wrong password: said on the page and in the log; traffic goes on

my $d = ClusterTest->new(workers => 1);
$d->allow_log(qr/cluster database unreachable/);
front($d, 'lb4', 'not-the-password');

ok($d->wait_for(sub { database($d)->{status} eq 'unreachable' }, 15),
   'a refused password: unreachable');
like(database($d)->{last_error} // '', qr/password authentication failed/,
     'the page says why');
ok($d->wait_log(qr/cluster database unreachable: .*password/),
   'the log says why');
is($d->get('/')->{status}, 200, 'traffic goes on');
like($d->get('/cluster', Accept => 'text/html')->{body},
     qr/The shared database is unreachable<\/strong> since .*password authentication failed/,
     'the page says it plainly');
$d->stop;

# a role without rights on the schema: said plainly, traffic goes on

$pg->psql("CREATE ROLE nobody_lb LOGIN PASSWORD '$password';"
          . "REVOKE ALL ON DATABASE lb FROM PUBLIC;"
          . "GRANT CONNECT ON DATABASE lb TO nobody_lb;");

my $e = ClusterTest->new(workers => 1);
$e->allow_log(qr/cluster database unreachable/);
$e->secret('db.pass', $password);
$e->secret('token', $token);
{
    my $pgport = $pg->port;
    $e->write_config(<<"EOF");
    cluster_database "host=127.0.0.1 port=$pgport dbname=lb user=nobody_lb"
                     password_file=%%DIR%%/db.pass instance=lb5;
    upstream proget { server $addr{web1}; cluster zone=proget:1m; }
    server {
        listen 127.0.0.1:%%PORT_http%%;
        location / { proxy_pass http://proget; }
        location /cluster { cluster_status; }
    }
EOF
}
$e->run;

ok($e->wait_for(sub { database($e)->{status} eq 'unreachable' }, 15),
   'no rights on the schema: unreachable');
like(database($e)->{last_error} // '', qr/permission denied/,
     'the page says why');
is($e->get('/')->{status}, 200, 'traffic goes on');
$e->stop;

# PostgreSQL restarted: connected again, and sharing again

$pg->stop;
ok($a->wait_for(sub { database($a)->{status} eq 'unreachable' }, 15),
   'PostgreSQL stopped: unreachable');
is($a->get('/')->{status}, 200, 'traffic goes on');

$pg->start;
ok($a->wait_for(sub { database($a)->{status} eq 'connected' }, 40),
   'PostgreSQL started again: connected again');

my $f = ClusterTest->new(workers => 1);
front($f, 'lb6', $password);
ok($f->wait_for(sub { database($f)->{status} eq 'connected' }, 15),
   'a new load balancer connects');
is(act($a, 'web1', 'drain')->{status}, 200, 'web1 drained on lb1');
ok($f->wait_for(sub { state_of($f, 'web1') eq 'drained' }, 5),
   'and drained on the new one: sharing again');
is(act($a, 'web1', 'restore')->{status}, 200, 'web1 restored');
$f->stop;

# several hosts: the first refuses, libpq goes on to the next

my $g = ClusterTest->new(workers => 1);
$g->secret('db.pass', $password);
{
    my $pgport = $pg->port;
    my $closed = ClusterPostgres::free_port();
    $g->write_config(<<"EOF");
    cluster_database "host=127.0.0.1,127.0.0.1 port=$closed,$pgport dbname=lb user=lb"
                     password_file=%%DIR%%/db.pass instance=lb7;
    upstream proget { server $addr{web1}; cluster zone=proget:1m; }
    server {
        listen 127.0.0.1:%%PORT_http%%;
        location /cluster { cluster_status; }
    }
EOF
}
$g->run;
ok($g->wait_for(sub { database($g)->{status} eq 'connected' }, 15),
   'two hosts, the first refusing: connected to the second')
    or diag(explain(database($g)));
$g->stop;
$g->check_logs;

# the password is nowhere

$a->allow_log(qr/cluster database unreachable/);

for my $t ($a, $b, $c, $d, $e, $f) {
    my $text = join '', map { $t->read_file($_) }
                        qw(error.log stderr.log access.log);
    unlike($text, qr/\Q$password\E/, 'the password is in no log');
}

unlike($a->get('/cluster')->{body}, qr/\Q$password\E/,
       'nor on the page');

$_->check_logs for ($a, $b);

done_testing();
