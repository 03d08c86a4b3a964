#!/usr/bin/perl

# PostgreSQL frozen (SIGSTOP) for 30 s under load: requests never notice
# (no failed request, no wait: p99 far below the database's deadline), the
# page says the database is unreachable, an operator's action applies at
# once and waits; thawed, the load balancer connects again and writes what
# waited.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use POSIX ();
use Time::HiRes qw(time sleep);
use ClusterTest qw(http_request);
use ClusterPostgres;

plan(skip_all => 'wrk is not installed: run make test')
    unless grep { -x "$_/wrk" } split /:/, $ENV{PATH};

my $pg = ClusterPostgres->new;

my $password = 'db-password-of-the-outage-' . int(rand(1e9));
$pg->psql("CREATE ROLE lb LOGIN PASSWORD '$password';"
          . "CREATE DATABASE lb OWNER lb;");

my $token = 'a-token-of-the-outage-test-0123456789';

my $t = ClusterTest->new(workers => 2);
$t->sim($_) for qw(web1 web2 web3);
$t->secret('db.pass', $password);
$t->secret('token', $token);
$t->allow_log(qr/cluster database unreachable/);

my $pgport = $pg->port;

$t->write_config(<<"EOF");
    cluster_database "host=127.0.0.1 port=$pgport dbname=lb user=lb"
                     password_file=%%DIR%%/db.pass instance=lb1;

    upstream proget {
        server 127.0.0.1:%%PORT_web1%%;
        server 127.0.0.1:%%PORT_web2%%;
        server 127.0.0.1:%%PORT_web3%%;

        cluster zone=proget:1m;
        keepalive 16;
    }

    server {
        listen 127.0.0.1:%%PORT_http%%;
        access_log off;

        location / {
            proxy_pass http://proget;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }

        location /cluster {
            cluster_status admin=on token_file=%%DIR%%/token;
        }
    }
EOF

$t->run;

sub database { $t->status->{database} }

ok($t->wait_for(sub { database()->{status} eq 'connected' }, 15),
   'connected');

my $url = 'http://127.0.0.1:' . $t->port('http') . '/';

# wrk's answer: requests, errors, non-2xx answers, p99 in ms
sub wrk {
    my ($seconds) = @_;

    my $out = `wrk -t1 -c8 -d${seconds}s --latency $url 2>&1`;

    my %r = (out => $out);
    ($r{requests}) = $out =~ /(\d+) requests in/;
    $r{errors} = 0;
    $r{errors} += $_ for $out =~ /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/;
    ($r{non2xx}) = $out =~ /Non-2xx or 3xx responses: (\d+)/;
    $r{non2xx} //= 0;

    my ($v, $unit) = $out =~ /^\s+99%\s+([\d.]+)(us|ms|s)\b/m;
    $r{p99} = !defined $v ? undef
              : $unit eq 'us' ? $v / 1000 : $unit eq 's' ? $v * 1000 : $v;

    return \%r;
}

my $before = wrk(5);
ok($before->{requests}, "load before: $before->{requests} requests, "
                        . "p99 $before->{p99} ms");

# frozen, with the load running through it

$pg->freeze;
my $frozen_at = time;

my $pid = open my $load, '-|' // die;
if (!$pid) {
    my $r = wrk(30);
    print join("\t", map { $_ // '' } @$r{qw(requests errors non2xx p99)});
    close STDOUT;
    # the parent's servers are the parent's to stop: no END, no DESTROY
    POSIX::_exit(0);
}

ok($t->wait_for(sub { database()->{status} eq 'unreachable' }, 20),
   'the page says the database is unreachable');
like(database()->{last_error} // '', qr/\S/, 'and why');

my $addr = '127.0.0.1:' . $t->port('web2');
is(http_request($t->port('http'), 'POST', "/cluster/nodes/$addr/drain", '',
                Authorization => "Bearer $token")->{status},
   200, 'an action while the database is away');

my ($web2) = grep { $_->{id} eq $addr } @{$t->cluster('proget')->{nodes}};
is($web2->{state}, 'drained', 'applies at once');
is(database()->{queued}, 1, 'and waits for the database');

my ($requests, $errors, $non2xx, $p99) = split /\t/, <$load> // '';
close $load;

ok($requests, "load while frozen: $requests requests, p99 $p99 ms");
is($errors, 0, 'no request failed');
is($non2xx, 0, 'no request was answered with an error');
# a request that waited on the frozen database would wait for the
# statement's deadline (10 s); the machine's noise is tens of ms
cmp_ok($p99, '<', 3 * $before->{p99} + 500,
       'p99: no request waited on the database');

sleep 30 - (time - $frozen_at) if time - $frozen_at < 30;

# thawed: connected again, and what waited written

$pg->cont;

ok($t->wait_for(sub { database()->{status} eq 'connected' }, 40),
   'connected again once thawed');
ok($t->wait_for(sub { database()->{queued} == 0 }, 10),
   'the queue is flushed');

my $row = $pg->psql("SELECT admin || ' ' || instance FROM ngx_cluster.node_admin "
                    . "WHERE node = '$addr'", 'lb');
like($row, qr/^drain lb1$/m, 'the action of the outage is in the database');

my $events = $pg->psql("SELECT count(*) FROM ngx_cluster.events "
                       . "WHERE node = '$addr' AND to_state = 'drain'", 'lb');
like($events, qr/^1$/m, 'and in its history');

unlike($t->read_file('error.log'), qr/\Q$password\E/,
       'the password is in no log');

$t->check_logs;

done_testing();
