#!/usr/bin/perl

# The behavioural key check, for nodes whose cookies the module cannot
# open (no "cluster_key" here): which node set each auth cookie, and what
# the others answer when it comes back.  Three nodes, one with another key:
# it is key_mismatch by evidence "cross_node", leaves rotation, and users
# keep their session; sessions go to a node of their own key class; fixed
# and restarted, the node comes back.  No cookie reaches a log.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use ClusterTest qw(http_get);

my $t = ClusterTest->new(workers => 1);

my $shared = '00112233445566778899aabbccddeeff';
my $other = 'ffeeddccbbaa99887766554433221100';

$t->sim('web1', key => $shared);
$t->sim('web2', key => $other);
$t->sim('web3', key => $shared);

$t->write_config(<<'EOF');
    log_format keys '$request_uri $cluster_node $cluster_key_check $status '
                    '"$http_cookie"';

    upstream proget {
        server 127.0.0.1:%%PORT_web1%% max_fails=0;
        server 127.0.0.1:%%PORT_web2%% max_fails=0;
        server 127.0.0.1:%%PORT_web3%% max_fails=0;

        cluster zone=proget_cluster:1m;
        cluster_heartbeat interval=300ms stale=1m;
        cluster_check uri=/health rise=2 fall=2;
        cluster_cookie name=^\.ProGetAuth$ login=^/log-in sessions=64;
    }

    server {
        listen 127.0.0.1:%%PORT_http%%;

        access_log %%DIR%%/keys.log keys;

        location / {
            proxy_pass http://proget;
        }

        location /cluster {
            cluster_status;
        }
    }
EOF

$t->run;

my %addr = map { $_ => '127.0.0.1:' . $t->port($_) } qw(web1 web2 web3);
sub node { $t->node('proget', $addr{$_[0]}) }

ok($t->all_up('proget'), 'all three up');

is(node('web2')->{encryption_key}{in_sync}, undef, 'no verdict yet');

# users sign in through nginx and go on browsing, each page to the next
# node; the nodes that cannot read a session send its user to sign in
my ($sessions, %minted, $redirects) = (0);
while ($sessions < 30 && node('web2')->{in_rotation}) {
    my ($by, $cookie) = $t->sign_in;
    $sessions++;
    $minted{$by}++;
    for (1 .. 3) {
        $redirects++
            if $t->get('/feeds/', Cookie => $cookie)->{status} == 302;
    }
}

my $n = node('web2');
ok(!$n->{in_rotation}, "web2 out of rotation after $sessions sign-ins")
    or diag explain $n;
is($n->{encryption_key}{in_sync}, JSON::PP::false, 'web2: key not in sync');
is($n->{encryption_key}{evidence}, 'cross_node', 'by what other nodes said');
is($n->{encryption_key}{checks}{cross_node}, JSON::PP::false,
   'the cross-node check says so');
is($n->{encryption_key}{checks}{crypto}, undef,
   'the cryptographic one cannot: no key');
cmp_ok($n->{encryption_key}{sessions_refused}, '>=', 3,
       'after three refused sessions at least');
is_deeply($n->{reasons}, ['key_mismatch'], 'for key_mismatch');
ok((grep { /Encryption key not in sync: this node sends the other nodes' signed-in users to log in/ }
    @{$n->{hints}}), 'with the hint');
isnt($n->{encryption_key}{key_class}, node('web1')->{encryption_key}{key_class},
     'in a key class of its own');

for my $name (qw(web1 web3)) {
    my $k = node($name)->{encryption_key};
    is($k->{in_sync}, JSON::PP::true, "$name in sync");
    is($k->{key_class}, 1, "$name in the cluster's key class");
}

like($t->read_file('error.log'),
     qr/\[warn\].*node "\Q$addr{web2}\E" is still up, out of rotation, found: key_mismatch; findings: key_mismatch/,
     'logged once, at warn');
cmp_ok($sessions, '<=', 12, "it took $sessions sign-ins");

# users who sign in now keep their session
my $kept = 0;
for (1 .. 4) {
    my ($by, $cookie) = $t->sign_in;
    $kept += $t->get('/feeds/', Cookie => $cookie)->{status} == 200
        for 1 .. 5;
}
is($kept, 20, 'signed in now, no user is sent to sign in again');

# routing by key class: web2 taken back into rotation by an operator's
# choice not to eject key_mismatch, its sessions still go to web2 only
$t->write_config(<<'EOF');
    upstream proget {
        server 127.0.0.1:%%PORT_web1%% max_fails=0;
        server 127.0.0.1:%%PORT_web2%% max_fails=0;
        server 127.0.0.1:%%PORT_web3%% max_fails=0;

        cluster zone=proget_cluster:1m;
        cluster_heartbeat interval=300ms stale=1m;
        cluster_check uri=/health rise=2 fall=2;
        cluster_cookie name=^\.ProGetAuth$ login=^/log-in sessions=64;
        cluster_eject down;
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
$t->reload;
ok($t->wait_for(sub { node('web2')->{in_rotation} }, 5),
   'kept in rotation once key_mismatch is not ejected');

my ($cookie2, %by);
for (1 .. 6) {
    my ($by, $cookie) = $t->sign_in;
    if ($by eq 'web2') {
        $cookie2 = $cookie;
        last;
    }
}
ok($cookie2, 'a user signed in on web2');
$by{$t->get('/feeds/', Cookie => $cookie2)->{headers}{'x-node'} // 'sent to sign in'}++
    for 1 .. 6;
is_deeply(\%by, { web2 => 6 }, 'its session stays on web2, the node that reads it');

my ($by1, $cookie1) = $t->sign_in;
$by1 = 'web1' unless $by1 =~ /web[13]/;
%by = ();
$by{$t->get('/feeds/', Cookie => $cookie1)->{headers}{'x-node'} // 'sent to sign in'}++
    for 1 .. 6;
ok(!$by{web2} && !$by{'sent to sign in'}, 'and a session of the others never goes to web2')
    or diag explain \%by;

# fixed: web2 restarted with the shared key comes back, its evidence gone
$t->stop_sim('web2');
ok($t->wait_for(sub { node('web2')->{state} eq 'down' }, 5), 'web2 down');
$t->sim('web2', key => $shared);
ok($t->wait_for(sub { node('web2')->{state} eq 'up' }, 5), 'web2 up again');
$n = node('web2');
is($n->{encryption_key}{in_sync}, undef, 'its key unknown again');
is($n->{encryption_key}{sessions_refused}, 0, 'its old evidence forgotten');

# the cookies and keys are in no log
$t->stop;

my $all = join '', map { $t->read_file($_) } qw(error.log);
unlike($all, qr/$shared|$other/i, 'the keys are in no log');
unlike($all, qr/\.ProGetAuth=/, 'nor any cookie in the error log');

$t->check_logs;

done_testing;
