#!/usr/bin/perl

# Both key checks at once, with the key configured.  Three nodes, one with
# another key, key_mismatch not ejected: both checks name the odd node, and
# sessions keep to the nodes that read them, so users keep their session
# although it stays in rotation.  Then four nodes, two with a second key:
# both leave rotation, and users keep their session.  Requests with
# hundreds of cookies, or hostile ones, change nothing.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use ClusterTest qw(http_get);

my $shared = '00112233445566778899aabbccddeeff';
my $other = 'ffeeddccbbaa99887766554433221100';

sub config {
    my ($servers, $eject) = @_;

    my $list = join '', map { "        server 127.0.0.1:%%PORT_$_%%;\n" }
        @$servers;

    return <<"EOF";
    upstream proget {
$list
        cluster zone=proget_cluster:1m;
        cluster_heartbeat interval=300ms stale=1m;
        cluster_check uri=/health rise=2 fall=2;
        cluster_key file=%%DIR%%/key;
        cluster_cookie name=^\\.ProGetAuth\$ login=^/log-in;
        $eject
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
}

sub key_file {
    my ($t) = @_;

    open my $fh, '>', $t->dir . '/key' or die;
    print $fh "$shared\n";
    close $fh;
    chmod 0600, $t->dir . '/key';
}

# three nodes, key_mismatch seen but not ejected

{
    my $t = ClusterTest->new(workers => 1);
    key_file($t);

    $t->sim('web1', key => $shared);
    $t->sim('web2', key => $other);
    $t->sim('web3', key => $shared);

    $t->write_config(config([qw(web1 web2 web3)], 'cluster_eject down;'));
    $t->run;

    my $addr2 = '127.0.0.1:' . $t->port('web2');
    ok($t->all_up('proget'), 'three nodes up');

    my $sessions = 0;
    my $k;
    while ($sessions < 30) {
        my ($by, $cookie) = $t->sign_in;
        $sessions++;
        $t->get('/feeds/', Cookie => $cookie) for 1 .. 3;
        $k = $t->node('proget', $addr2)->{encryption_key};
        last if defined $k->{checks}{cross_node}
            && defined $k->{checks}{crypto};
    }

    is($k->{checks}{crypto}, JSON::PP::false,
       "the cryptographic check: web2's cookies do not open");
    is($k->{checks}{cross_node}, JSON::PP::false,
       'the cross-node check: web2 and the others refuse each other\'s sessions');
    is($k->{in_sync}, JSON::PP::false, 'web2 not in sync');
    is($k->{evidence}, 'crypto', 'the proof of the cookie comes first');
    is($t->node('proget', $addr2)->{in_rotation}, JSON::PP::true,
       'in rotation still: key_mismatch is not ejected here');
    diag("both checks after $sessions sign-ins");

    # sessions keep to their key class
    my %status;
    for (1 .. 6) {
        my ($by, $cookie) = $t->sign_in;
        $status{$t->get('/feeds/', Cookie => $cookie)->{status}}++ for 1 .. 4;
    }
    is_deeply(\%status, { 200 => 24 },
              'every session goes to a node that reads it, web2 included');

    # hundreds of cookies, and hostile ones: answered, nothing counted
    my $before = $t->node('proget', $addr2)->{encryption_key};
    my $many = join '; ', map { "c$_=v" } 1 .. 400;
    my $r = $t->get('/log-in', Cookie => "$many; .ProGetAuth=AQ" . ('A' x 80));
    is($r->{status}, 200, 'four hundred cookies and a forged one: answered')
        or diag $r->{body};
    for my $bad ('.ProGetAuth=', '.ProGetAuth=%%%', '.ProGetAuth=' . ('A' x 5000),
                 '=;;=;.ProGetAuth', ".ProGetAuth=\x01\x02") {
        $r = $t->get('/feeds/', Cookie => $bad);
        ok($r->{status} == 302, 'a hostile cookie: the node answers, not nginx');
    }

    my $kc = $t->cluster('proget')->{key_check};
    is($kc->{crypto}, JSON::PP::true, 'the cryptographic check is on');
    is($kc->{cross_node}, JSON::PP::true, 'and the cross-node one');
    is($kc->{sessions}, 1024, 'its table holds 1024 sessions');
    cmp_ok($kc->{sessions_stored}, '>=', $sessions + 6, 'one for each sign-in');
    cmp_ok($kc->{cookies_malformed} + $kc->{cookies_forged}, '>=', 3,
           'the hostile cookies counted');

    my $after = $t->node('proget', $addr2)->{encryption_key};
    is($after->{sessions_refused}, $before->{sessions_refused},
       'no evidence from them');

    $t->stop;
    unlike($t->read_file('error.log'), qr/$shared|$other/i,
           'the keys are in no log');
    $t->check_logs;
}

# four nodes, two with a second key; key_mismatch ejected

{
    my $t = ClusterTest->new(workers => 1);
    key_file($t);

    $t->sim('web1', key => $shared);
    $t->sim('web2', key => $shared);
    $t->sim('web3', key => $other);
    $t->sim('web4', key => $other);

    $t->write_config(config([qw(web1 web2 web3 web4)], ''));
    $t->run;

    ok($t->all_up('proget'), 'four nodes up');

    my $sessions = 0;
    while ($sessions < 30) {
        my ($by, $cookie) = $t->sign_in;
        $sessions++;
        $t->get('/feeds/', Cookie => $cookie) for 1 .. 3;
        last unless grep { $_->{in_rotation} }
            map { $t->node('proget', '127.0.0.1:' . $t->port($_)) }
            qw(web3 web4);
    }

    for my $name (qw(web3 web4)) {
        my $n = $t->node('proget', '127.0.0.1:' . $t->port($name));
        is($n->{encryption_key}{in_sync}, JSON::PP::false,
           "$name: key not in sync");
        is($n->{in_rotation}, JSON::PP::false, "$name out of rotation");
    }

    for my $name (qw(web1 web2)) {
        my $n = $t->node('proget', '127.0.0.1:' . $t->port($name));
        is($n->{encryption_key}{in_sync}, JSON::PP::true, "$name in sync");
        is($n->{in_rotation}, JSON::PP::true, "$name in rotation");
    }

    my %status;
    for (1 .. 4) {
        my ($by, $cookie) = $t->sign_in;
        $status{$t->get('/feeds/', Cookie => $cookie)->{status}}++ for 1 .. 5;
    }
    is_deeply(\%status, { 200 => 20 }, 'users keep their session');

    $t->stop;
    $t->check_logs;
}

done_testing;
