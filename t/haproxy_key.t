#!/usr/bin/perl

# The key check through HAProxy: the auth cookies the nodes set (read by
# the response action) and those clients carry (the request action), by
# the core's evidence rules: a node whose cookies do not open with the
# cluster's key is key_mismatch and out of rotation, in the bridge and in
# HAProxy's own state; txn.cluster_key_check says what a request's cookie
# is; the key is in no log and on no page.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use ClusterHAProxy;
use ClusterTest qw(http_get);

my $t = ClusterHAProxy->new;

my $shared = '00112233445566778899aabbccddeeff';
my $other = 'ffeeddccbbaa99887766554433221100';

$t->secret('key', $shared);

$t->sim('web1', key => $shared);
$t->sim('web2', key => $other);
$t->sim('web3', key => $shared);

$t->write_haproxy(<<'HAPROXY', <<'CLUSTER');
frontend web
    bind 127.0.0.1:%%PORT_http%%
    http-request use-service lua.cluster_status if { path_beg /cluster }
    default_backend proget

backend proget
    # round and round, as the test counts (3.4's default is random)
    balance roundrobin
    http-request set-var(txn.cluster_cookie) req.fhdr(cookie)
    http-response lua.cluster_response
    http-response set-header X-Key-Check %[var(txn.cluster_key_check)]
    server web1 127.0.0.1:%%PORT_web1%%
    server web2 127.0.0.1:%%PORT_web2%%
    server web3 127.0.0.1:%%PORT_web3%%
HAPROXY
backend proget {
    cluster_heartbeat interval=300ms stale=1m;
    cluster_check uri=/health rise=2 fall=2;
    cluster_key file=%%DIR%%/key;
    cluster_cookie name=^\.ProGetAuth$ login=^/log-in;
}
CLUSTER

$t->run_haproxy;

my %addr = map { $_ => '127.0.0.1:' . $t->port($_) } qw(web1 web2 web3);
sub node { $t->node('proget', $addr{$_[0]}) }

ok($t->all_up('proget'), 'all three up');
my $c = $t->cluster('proget');
is($c->{key_fingerprint}, 'bb4aac79', 'the key\'s fingerprint, not the key');
is($c->{key_check}{crypto}, JSON::PP::true, 'the cryptographic check is on');

# a valid session, sent round the cluster: web2 loses it
my ($cookie) = http_get($t->port('web1'), '/log-in')->{headers}{'set-cookie'}
    =~ /^([^;]+)/;

my %status;
my %check;
for (1 .. 3) {
    my $r = $t->get('/feeds/', Cookie => $cookie);
    $status{$r->{status}}++;
    $check{$r->{headers}{'x-key-check'} // '-'}++;
}
is_deeply(\%status, { 200 => 2, 302 => 1 }, 'one node sends it to sign in');
is_deeply(\%check, { ok => 3 }, 'txn.cluster_key_check: ok, the cookie opens');
is(node('web2')->{encryption_key}{lost_sessions}, 1, 'a session lost, on web2');

# signing in through HAProxy: two of web2's cookies refused prove it
$t->get('/log-in') for 1 .. 6;

my $n = node('web2');
is($n->{encryption_key}{in_sync}, JSON::PP::false, 'web2: key not in sync');
is($n->{encryption_key}{evidence}, 'crypto', 'proved by its cookies');
is_deeply($n->{reasons}, ['key_mismatch'], 'key_mismatch');
is($n->{in_rotation}, JSON::PP::false, 'out of rotation');
is(node('web1')->{encryption_key}{in_sync}, JSON::PP::true, 'web1 in sync');
ok($t->wait_for(sub { $t->haproxy_stat('proget', 'web2', 'status') =~ /^DOWN/ }, 1),
   'HAProxy has it DOWN');
like($t->read_file('haproxy.log'),
     qr/\[warning\].*node "web2" \(\Q$addr{web2}\E\) is still up, out of rotation, found: key_mismatch/,
     'logged once, at warning');

%status = ();
$status{$t->get('/feeds/', Cookie => $cookie)->{status}}++ for 1 .. 9;
is_deeply(\%status, { 200 => 9 },
          'signed-in users are no longer sent to sign in');

my ($foreign) = http_get($t->port('web2'), '/log-in')->{headers}{'set-cookie'}
    =~ /^([^;]+)/;
my $r = $t->get('/feeds/', Cookie => "theme=dark; $foreign");
is($r->{headers}{'x-key-check'}, 'mismatch',
   'a cookie of another key: mismatch');
$r = $t->get('/feeds/');
is($r->{headers}{'x-key-check'}, 'none', 'no cookie: none');

my $page = $t->get('/cluster?format=html')->{body};
my $all = $t->read_file('haproxy.log') . $t->get('/cluster')->{body} . $page;
unlike($all, qr/$shared|$other/i, 'the keys are in no log or page');
unlike($all, qr/\Q$cookie\E/, 'nor the cookie');

$t->check_logs;

done_testing;
