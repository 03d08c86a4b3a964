#!/usr/bin/perl

# Hostile input loses nothing and crashes nothing: a node's cookie with an
# absurd "exp", admin requests that name no cluster, carry a token in the
# query or say twice where they come from, and a state file that is a link,
# a stranger's, or out of range.  A reload that resizes the zone keeps what
# the zone knew, and a node added by a reload is slowed in.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use IO::Socket::INET;
use JSON::PP;
use ClusterTest qw(http_request);

# the master reads the state file as root, the workers run as nobody
plan(skip_all => 'the state file cases need root') if $> != 0;

my $t = ClusterTest->new(workers => 2);

my $shared = '00112233445566778899aabbccddeeff';
my $other = 'ffeeddccbbaa99887766554433221100';
my $token = 'a-token-for-the-hostile-test-0123';

$t->secret('key', $shared);
$t->secret('token', $token);

mkdir $t->dir . '/state';
chmod 0777, $t->dir . '/state';

$t->sim('web1', key => $shared);
$t->sim('web2', key => $other);
$t->sim('web3', key => $shared);

# the configuration, with web3 or not, in a zone of the given size
sub config {
    my (%o) = @_;

    my $web3 = $o{web3} ? 'server 127.0.0.1:%%PORT_web3%%;' : '';
    my $state = $o{state} ? 'cluster_state_file %%DIR%%/state/cluster.json;'
                          : '';

    $t->write_config(<<"EOF");
    $state

    upstream proget {
        server 127.0.0.1:%%PORT_web1%%;
        server 127.0.0.1:%%PORT_web2%%;
        $web3

        cluster zone=proget_cluster:$o{zone};
        cluster_heartbeat interval=300ms stale=1m;
        cluster_check uri=/health;
        cluster_key file=%%DIR%%/key;
        cluster_cookie name=^\\.ProGetAuth\$ login=^/log-in sessions=64
                       probe=/feeds/;
        cluster_eject off;
        cluster_slow_start 1m;
        cluster_node_name 127.0.0.1:%%PORT_web1%% web1;
        cluster_node_name 127.0.0.1:%%PORT_web2%% twin;
        cluster_node_name 127.0.0.1:%%PORT_web3%% twin;
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
}

# cluster_cookie with all four of its parameters
config(zone => '1m', web3 => 1);
$t->run;

my %addr = map { $_ => '127.0.0.1:' . $t->port($_) } qw(web1 web2 web3);
my %bearer = (Authorization => "Bearer $token");

sub node { $t->node('proget', $addr{$_[0]}) }
sub post {
    my ($path, %h) = @_;
    return http_request($t->port('http'), 'POST', $path, '', %h);
}

ok($t->all_up('proget'), 'all up');

# 1. a node sets a cookie sealed with the cluster's key whose "exp" is
# past any time; every later request carrying it is answered (the overflow
# this once caused is silent in a release build: the sanitizer build ends
# the worker, which the harness sees)

$t->sim_control($_, 'exp=99999999999999999') for qw(web1 web3);

my $cookie;
for (1 .. 6) {
    my ($who, $c) = $t->sign_in;
    ($cookie = $c, last) if $who ne 'web2' && $c;
}
ok($cookie, 'a session with an absurd exp, set through nginx');

my %status;
$status{$t->get('/feeds/', Cookie => $cookie)->{status}}++ for 1 .. 12;
is(($status{200} // 0) + ($status{302} // 0), 12,
   'every request with it is answered') or diag explain \%status;
is(scalar(grep { /exited/ } $t->problems), 0, 'no worker died');

$t->sim_control($_, 'reset=1') for qw(web1 web3);

# 2. admin requests: an empty cluster= acts on nothing

my $query_secret = 'query-secret-never-logged-17';

for my $q ('?cluster=', '?cluster=%', '?cluster', '?cluster&x=1',
           "?cluster=proget&token=$query_secret", '?cluster=nope')
{
    my $r = post("/cluster/nodes/$addr{web1}/drain$q", %bearer);
    my $want = $q eq '?cluster=nope' ? 404 : 400;
    is($r->{status}, $want, "drain$q: $want");
    my $error = eval { decode_json($r->{body})->{error} };
    ok(defined $error && length $error, '  with a JSON error')
        or diag $r->{body};
}
is(node('web1')->{state}, 'up', 'and nothing was drained');
is(scalar @{$t->cluster('proget')->{last_actions}}, 0, 'nor recorded');

# by name: a unique one acts, a shared one is refused, an unknown one says
# what is expected
my $r = post('/cluster/nodes/twin/drain', %bearer);
is($r->{status}, 409, 'a name two nodes share: 409');
like($r->{body}, qr/"error":".*address/, '  that asks for the address');
$r = post('/cluster/nodes/nobody/drain', %bearer);
is($r->{status}, 404, 'an unknown node: 404');
like($r->{body}, qr/"error":".*address/, '  that says an address is needed');
is(node('web2')->{state}, 'up', 'nothing drained');

$r = post('/cluster/nodes/web1/drain', %bearer);
is($r->{status}, 200, 'drain web1 by its name');
is(node('web1')->{state}, 'drained', '  drained');
is(post('/cluster/nodes/web1/restore', %bearer)->{status}, 200,
   '  restored by its name');

# the changes an action makes are logged without nginx's request line
is(post("/cluster/nodes/$addr{web1}/drain?cluster=proget", %bearer)
   ->{status}, 200, 'drain web1 in its cluster');
my ($change) = grep { /node "web1".* is drained/ }
               split /\n/, $t->read_file('error.log');
ok($change, '  the change is logged');
unlike($change // '', qr/request: /, '  without the request line');
unlike($t->read_file('error.log'), qr/\Q$query_secret\E/,
       '  and a refused query is in no log');
is(post("/cluster/nodes/$addr{web1}/restore", %bearer)->{status}, 200,
   '  restored');

# a token in the query is refused and in no log
my $query_token = 'query-token-never-logged-42';
is(post("/cluster/nodes/$addr{web1}/drain?token=$query_token")->{status},
   401, 'a token in the query: 401');
unlike($t->read_file('error.log'), qr/\Q$query_token\E/,
       '  the query is in no log');
like($t->read_file('error.log'),
     qr/\[warn\].*cluster admin action refused: no valid token, client: 127\.0\.0\.1, request: "POST \/cluster\/nodes\/\Q$addr{web1}\E\/drain"$/m,
     '  the refusal names the client and the path');

# a header said twice: any cross-site copy refuses the action
sub raw_post {
    my ($path, @headers) = @_;

    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $t->port('http'),
                                  Proto => 'tcp', Timeout => 5) or die;
    print $s "POST $path HTTP/1.1\r\nHost: localhost\r\n"
        . "Connection: close\r\nContent-Length: 0\r\n"
        . "Authorization: Bearer $token\r\n"
        . join('', map { "$_\r\n" } @headers) . "\r\n";
    local $/;
    my $answer = <$s> // '';
    return $answer =~ m{^HTTP/1\.1 (\d+)} ? $1 : 0;
}

is(raw_post("/cluster/nodes/$addr{web1}/drain",
            'Sec-Fetch-Site: same-origin', 'Sec-Fetch-Site: cross-site'),
   403, 'a second Sec-Fetch-Site that is cross-site: 403');
is(raw_post("/cluster/nodes/$addr{web1}/drain",
            'Origin: http://localhost', 'Origin: http://evil.example'),
   403, 'a second Origin of another site: 403');
is(node('web1')->{state}, 'up', 'nothing drained');

# 3. a reload that resizes the zone: what the zone knew is carried over

# web2 sets cookies the cluster's key does not open: two in a row prove it
ok($t->wait_for(sub {
    $t->sign_in;
    my $in_sync = node('web2')->{encryption_key}{in_sync};
    defined $in_sync && !$in_sync;
}, 10), 'web2: key mismatch');
is(post("/cluster/nodes/$addr{web1}/drain", %bearer)->{status}, 200,
   'web1 drained');

config(zone => '2m', web3 => 1);
$t->reload;

like($t->read_file('error.log'), qr/cluster zone "proget_cluster" resized/,
     'a reload that resized the zone');
is(node('web1')->{state}, 'drained', '  keeps the drain');
is($t->cluster('proget')->{last_actions}[0]{action}, 'drain',
   '  keeps the last actions');
is(node('web2')->{encryption_key}{in_sync}, JSON::PP::false,
   '  keeps the key verdict');
ok(node('web2')->{web}{requests} > 0, '  keeps the counters');

# another cluster_key: the verdicts of the old one go, the drain stays
$t->secret('key', $other);
$t->reload;
is(node('web2')->{encryption_key}{in_sync}, undef,
   'a reload with another key forgets the verdicts of the old one');
is(node('web1')->{state}, 'drained', '  and keeps the drain');

$t->stop;
$t->secret('key', $shared);

# 4. a node added by a reload takes its share slowly under slow start

$t->write_config(<<'EOF');
    upstream slow {
        server 127.0.0.1:%%PORT_web1%%;
        server 127.0.0.1:%%PORT_web3%%;
        %%WEB2%%

        cluster zone=slow:1m;
        cluster_slow_start 1m;
    }

    server {
        listen 127.0.0.1:%%PORT_http%%;
        location / { proxy_pass http://slow; }
        location /cluster { cluster_status; }
    }
EOF
my $conf = $t->read_file('nginx.conf');
(my $without = $conf) =~ s/%%WEB2%%//;
(my $with = $conf) =~ s/%%WEB2%%/server 127.0.0.1:${\ $t->port('web2')};/;

sub put_conf {
    open my $fh, '>', $t->dir . '/nginx.conf' or die;
    print $fh $_[0];
    close $fh;
}

put_conf($without);
$t->run;
$t->spread(4, '/log-in');
put_conf($with);
$t->reload;

my $seen = $t->spread(40, '/log-in');
ok(($seen->{web2} // 0) <= 6, 'the added node gets a little at first')
    or diag explain $seen;
is(($seen->{web1} // 0) + ($seen->{web3} // 0) + ($seen->{web2} // 0), 40,
   '  and every request is served');

$t->stop;

# 5. the state file: the master, as root, reads no link, no stranger's
# file, no admin state out of range

config(zone => '1m', web3 => 1, state => 1);

my $state = $t->dir . '/state/cluster.json';

sub state_file {
    my ($admin) = @_;
    my $text = encode_json({ ngx_cluster_state => 1, nodes => [
        { cluster => 'proget', id => $addr{web1}, admin => $admin } ] });
    return $text;
}

open my $fh, '>', $t->dir . '/elsewhere.json' or die;
print $fh state_file(1);
close $fh;
symlink $t->dir . '/elsewhere.json', $state or die "symlink: $!";

$t->run;
like($t->read_file('error.log'),
     qr/\[warn\].*cluster state file ".*cluster\.json" ignored: it is a symbolic link/,
     'a link as the state file is said and not followed');
is(node('web1')->{state} ne 'drained', 1, '  nothing restored from it');
$t->stop;

for my $case ([ 'a stranger', 1, 12345 ], [ 'admin 257', 257, 0 ]) {
    my ($what, $admin, $uid) = @$case;

    unlink $state;
    open $fh, '>', $state or die;
    print $fh state_file($admin);
    close $fh;
    chown $uid, 0, $state;

    $t->run;
    is(node('web1')->{state} ne 'drained', 1, "$what: not restored");
    like($t->read_file('error.log'),
         $uid ? qr/ignored: owned by neither root nor the workers' user/
              : qr/1 entries ignored, with a value out of range/,
         '  and said');
    $t->stop;
}

# 6. nginx -t refuses a state file whose folder the workers cannot write

mkdir $t->dir . '/closed';
chmod 0755, $t->dir . '/closed';
my $closed = $t->read_file('nginx.conf');
$closed =~ s{state/cluster\.json}{closed/cluster.json};
put_conf($closed);

my ($rc, $out) = $t->test_config;
$t->allow_log(qr/\[emerg\].*of "cluster_state_file" .* is not writable/);
isnt($rc, 0, 'nginx -t fails for a folder the workers cannot write');
like($out, qr/the folder ".*closed" of "cluster_state_file" in .*nginx\.conf:\d+ is not writable by nginx's workers/,
     '  and says which, where and what to do') or diag $out;

$t->check_logs;

done_testing;
