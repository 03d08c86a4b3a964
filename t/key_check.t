#!/usr/bin/perl

# The cryptographic key check: a node whose auth cookies do not open with
# the cluster's key is key_mismatch, leaves rotation, and users who signed
# in keep their session; a valid session sent to sign in is counted as
# lost; fixed and restarted, the node comes back.  The key is in no log.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use ClusterTest qw(http_get);

my $t = ClusterTest->new(workers => 1);

my $shared = '00112233445566778899aabbccddeeff';
my $other = 'ffeeddccbbaa99887766554433221100';

open my $fh, '>', $t->dir . '/key' or die;
print $fh "$shared\n";
close $fh;
chmod 0600, $t->dir . '/key';

$t->sim('web1', key => $shared);
$t->sim('web2', key => $other);
$t->sim('web3', key => $shared);

$t->write_config(<<'EOF');
    log_format keys '$request_uri $cluster_node $cluster_key_check $status';

    upstream proget {
        server 127.0.0.1:%%PORT_web1%%;
        server 127.0.0.1:%%PORT_web2%%;
        server 127.0.0.1:%%PORT_web3%%;

        cluster zone=proget_cluster:1m;
        cluster_heartbeat interval=300ms stale=1m;
        cluster_check uri=/health rise=2 fall=2;
        cluster_key file=%%DIR%%/key;
        cluster_cookie name=^\.ProGetAuth$ login=^/log-in;
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

# a valid session, from web1, sent round the cluster: web2 loses it
my ($cookie) = http_get($t->port('web1'), '/log-in')->{headers}{'set-cookie'}
    =~ /^([^;]+)/;

my %status;
$status{$t->get('/feeds/', Cookie => $cookie)->{status}}++ for 1 .. 3;
is_deeply(\%status, { 200 => 2, 302 => 1 }, 'one node sends it to sign in');
is(node('web2')->{encryption_key}{lost_sessions}, 1,
   'a session lost, on web2');

# signing in through nginx: web2's cookies do not open; one refused might
# be chance, two in a row are not
my $signed = 0;
for (1 .. 3) {
    my $r = $t->get('/log-in');
    $signed++ if $r->{headers}{'set-cookie'};
}
is($signed, 3, 'three sign-ins, one on each node');

my $n = node('web2');
is($n->{encryption_key}{cookies_refused}, 1, 'web2: one cookie refused');
is($n->{in_rotation}, JSON::PP::true, 'not enough to eject it');

$t->get('/log-in') for 1 .. 3;

$n = node('web2');
is($n->{encryption_key}{in_sync}, JSON::PP::false, 'web2: key not in sync');
is($n->{encryption_key}{evidence}, 'crypto', 'proved by a cookie');
is($n->{encryption_key}{cookies_refused}, 2, 'its second cookie refused');
is($n->{in_rotation}, JSON::PP::false, 'out of rotation');
is_deeply($n->{reasons}, ['key_mismatch'], 'for key_mismatch');
ok((grep { /Encryption key not in sync.*fingerprint bb4aac79.*Copy the shared EncryptionKey to this node and restart it/ }
    @{$n->{hints}}), 'with the hint');
is(node('web1')->{encryption_key}{in_sync}, JSON::PP::true, 'web1 in sync');
is(node('web3')->{encryption_key}{in_sync}, JSON::PP::true, 'web3 in sync');

like($t->read_file('error.log'),
     qr/\[warn\].*node "\Q$addr{web2}\E" is still up, out of rotation, found: key_mismatch; findings: key_mismatch/,
     'logged once, at warn');

# users keep their session now
%status = ();
$status{$t->get('/feeds/', Cookie => $cookie)->{status}}++ for 1 .. 9;
is_deeply(\%status, { 200 => 9 }, 'signed-in users are no longer sent to sign in');

# fixed: web2 restarted with the shared key comes back
$t->stop_sim('web2');
ok($t->wait_for(sub { node('web2')->{state} eq 'down' }, 5), 'web2 down');
$t->sim('web2', key => $shared);
ok($t->wait_for(sub { node('web2')->{in_rotation} }, 5),
   'restarted, it is back in rotation');
is(node('web2')->{encryption_key}{in_sync}, undef, 'its key unknown again');

for (1 .. 3) {
    $t->get('/log-in');
}
is(node('web2')->{encryption_key}{in_sync}, JSON::PP::true,
   'and in sync once it signs someone in');

# the access log, and no key anywhere
$t->stop;

my @log = split /\n/, $t->read_file('keys.log');
ok((grep { m{^/feeds/ \S+ ok 200$} } @log), '$cluster_key_check: ok');
ok((grep { m{^/log-in \S+ none 200$} } @log), 'none without a cookie');

my $all = join '', map { $t->read_file($_) } qw(error.log keys.log);
unlike($all, qr/$shared|$other/i, 'the keys are in no log');

$t->check_logs;

done_testing;
