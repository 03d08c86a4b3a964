#!/usr/bin/perl

# The simulator plays nodes with keys of their own: /log-in mints the auth
# cookie sealed with the scheme v1, and a node whose key differs answers a
# redirect to /log-in, which is what users of such a cluster see.  The key
# check builds on this.

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
    upstream proget {
        server 127.0.0.1:%%PORT_web1%%;
        server 127.0.0.1:%%PORT_web2%%;
        server 127.0.0.1:%%PORT_web3%%;

        cluster zone=proget_cluster:1m;
    }

    server {
        listen 127.0.0.1:%%PORT_http%%;

        location / {
            proxy_pass http://proget;
        }
    }
EOF

$t->run;

my $r = http_get($t->port('web1'), '/log-in');
is($r->{status}, 200, 'web1 signs a user in');
my ($cookie) = ($r->{headers}{'set-cookie'} // '') =~ /^(\.ProGetAuth=[A-Za-z0-9_-]+);/;
ok($cookie, 'with an auth cookie, base64url');

is(http_get($t->port('web1'), '/feeds/', Cookie => $cookie)->{status}, 200,
   'web1 reads its own cookie');
is(http_get($t->port('web3'), '/feeds/', Cookie => $cookie)->{status}, 200,
   'web3, with the same key, reads it too');

$r = http_get($t->port('web2'), '/feeds/', Cookie => $cookie);
is($r->{status}, 302, 'web2, with another key, does not');
is($r->{headers}{location}, '/log-in', 'and sends the user to sign in');
is(http_get($t->port('web1'), '/feeds/')->{status}, 302,
   'no cookie: sign in');
is(http_get($t->port('web1'), '/feeds/',
            Cookie => '.ProGetAuth=AQAAAA; x=1')->{status}, 302,
   'a broken cookie: sign in');

# through nginx, as users meet it: signed in, then sent to sign in again
my %status;
$status{http_get($t->port('http'), '/feeds/', Cookie => $cookie)->{status}}++
    for 1 .. 9;
is_deeply(\%status, { 200 => 6, 302 => 3 },
          'one request in three lands on the node that cannot read it');
is($t->sim_stats('web2')->{login_redirects}, 4, 'counted by the node: 1 + 3');

$t->check_logs;

done_testing;
