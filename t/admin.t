#!/usr/bin/perl

# Admin actions: drain, remove and restore a node by POST, behind a bearer
# token or nginx's own auth_basic; refused for GET, for cross-site requests
# and without credentials, changing nothing then; logged with who acted;
# kept across a reload.  A drained node finishes its running request and
# gets no new one.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use IO::Socket::INET;
use ClusterTest qw(http_request);

my $t = ClusterTest->new(workers => 1);

$t->sim($_) for qw(web1 web2 web3);

my $token = 'a-secret-token-for-tests-0123456789';
open my $fh, '>', $t->dir . '/token' or die;
print $fh "$token\n";
close $fh;
chmod 0600, $t->dir . '/token';

open $fh, '>', $t->dir . '/htpasswd' or die;
print $fh "operator:{PLAIN}letmein\n";
close $fh;
chmod 0644, $t->dir . '/htpasswd';

my $conf = <<'EOF';
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

        location /cluster {
            cluster_status admin=on token_file=%%DIR%%/token;
        }

        location /basic {
            cluster_status admin=on;
            auth_basic "cluster";
            auth_basic_user_file %%DIR%%/htpasswd;
        }

        location /open {
            cluster_status;
        }

        location /bare {
            cluster_status admin=on;
        }

        location /limited {
            cluster_status admin=on token_file=%%DIR%%/token;

            limit_except GET {
                allow 127.0.0.1;
                deny all;
            }
        }
    }
EOF

$t->write_config($conf);
$t->run;

my $port = $t->port('http');
my %addr = map { $_ => '127.0.0.1:' . $t->port($_) } qw(web1 web2 web3);

sub post {
    my ($path, %h) = @_;
    return http_request($port, 'POST', $path, '', %h);
}

sub state { $t->node('proget', $addr{$_[0]})->{state} }

my %bearer = (Authorization => "Bearer $token");

# refused, and nothing changes
is(post("/cluster/nodes/$addr{web1}/drain")->{status}, 401,
   'no token: 401');
is(post("/cluster/nodes/$addr{web1}/drain",
        Authorization => 'Bearer wrong-token-of-some-length')->{status},
   401, 'a wrong token: 401');
is(post("/cluster/nodes/$addr{web1}/drain",
        Authorization => "Bearer ${token}x")->{status},
   401, 'a longer token: 401');
is($t->get("/cluster/nodes/$addr{web1}/drain", %bearer)->{status}, 405,
   'GET: 405');
is(post("/cluster/nodes/$addr{web1}/drain", %bearer,
        Origin => 'http://evil.example')->{status}, 403,
   'a cross-site Origin: 403');
is(post("/cluster/nodes/$addr{web1}/drain", %bearer,
        'Sec-Fetch-Site' => 'cross-site')->{status}, 403,
   'Sec-Fetch-Site cross-site: 403');
is(post("/open/nodes/$addr{web1}/drain")->{status}, 403,
   'admin off: 403');
is(post("/bare/nodes/$addr{web1}/drain")->{status}, 403,
   'admin on, but neither token nor auth_basic: 403');

is(post("/cluster/nodes/10.9.9.9:1/drain", %bearer)->{status}, 404,
   'an unknown node: 404');
is(post("/cluster/nodes/$addr{web1}/reboot", %bearer)->{status}, 404,
   'an unknown action: 404');
is(state('web1'), 'checking', 'and nothing changed');
is(scalar @{$t->cluster('proget')->{last_actions}}, 0, 'no action recorded');
unlike($t->read_file('error.log'), qr/\Q$token\E/, 'the token is in no log');

# drain: the running request finishes, no new one starts
$t->sim_control($_, 'delay=1500') for qw(web1 web2 web3);

my %before = map { $_ => $t->sim_stats($_)->{content} } qw(web1 web2 web3);

my $slow = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port)
    or die;
print $slow "GET /slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
select undef, undef, undef, 0.3;

# the node that is answering it now
my ($busy) = grep { $t->sim_stats($_)->{content} > $before{$_} }
    qw(web1 web2 web3);
ok($busy, "a slow request is running on $busy");

$t->sim_control($_, 'delay=0') for grep { $_ ne $busy } qw(web1 web2 web3);

my $r = post("/cluster/nodes/$addr{$busy}/drain", %bearer,
             'Sec-Fetch-Site' => 'same-origin',
             Origin => "http://localhost");
is($r->{status}, 200, 'drain with the token: 200');
like($r->{body}, qr/"action":"drain","nodes":1/, 'says what it did');

is(state($busy), 'drained', 'the node is drained');
is($t->node('proget', $addr{$busy})->{in_rotation}, JSON::PP::false,
   'out of rotation');

my $seen = $t->spread(10);
ok(!$seen->{$busy}, 'no new request reaches it') or diag explain $seen;

my $answer = do { local $/; <$slow> };
like($answer, qr{^HTTP/1\.1 200}, 'the running request finished');
like($answer, qr{X-Node: $busy}, 'on the drained node');

$t->sim_control($busy, 'delay=0');

# from here on, web1 stands for the drained node
my ($other1, $other2) = grep { $_ ne $busy } qw(web1 web2 web3);
@addr{qw(web1 web2 web3)} = @addr{$busy, $other1, $other2};

like($t->read_file('error.log'),
     qr/\[notice\].*cluster "proget" node "\Q$addr{web1}\E": drain by token from 127\.0\.0\.1/,
     'logged, with who');

# remove, then the page shows it apart
is(post("/cluster/nodes/$addr{web2}/remove", %bearer)->{status}, 200,
   'remove');
is(state('web2'), 'removed', 'removed');

my $html = $t->get('/cluster?format=html')->{body};
like($html, qr{<h3>Removed from the Cluster</h3><ul><li><strong>\Q$addr{web2}\E</strong>},
     'the page lists it apart');
like($html, qr{data-node="\Q$addr{web2}\E" data-action="restore">Restore</button>},
     'with a restore button');
like($html, qr{data-node="\Q$addr{web3}\E" data-action="drain">Drain</button>},
     'and the others with theirs');
unlike($t->get('/open?format=html')->{body}, qr{<button class="act"},
       'no buttons where admin is off');

my @actions = @{$t->cluster('proget')->{last_actions}};
is_deeply([map { "$_->{action} $_->{node}" } @actions],
          ["remove $addr{web2}", "drain $addr{web1}"],
          'the last actions, newest first');
like($actions[0]{by}, qr/^token from 127\.0\.0\.1$/, 'with who');

# within limit_except, as nginx users protect POST
is(post("/limited/nodes/$addr{web3}/drain", %bearer)->{status}, 200,
   'under limit_except: the action works');
is(post("/limited/nodes/$addr{web3}/restore", %bearer)->{status}, 200,
   'and restores');

# both survive a reload
$t->reload;
is(state('web1'), 'drained', 'drained after a reload');
is(state('web2'), 'removed', 'removed after a reload');

# the cluster keeps serving from web3 alone; restore brings them back
$seen = $t->spread(4);
is_deeply($seen, { $other2 => 4 }, 'the third node serves alone');

is(post("/cluster/nodes/$addr{web1}/restore", %bearer)->{status}, 200,
   'restore web1');
is(post("/cluster/nodes/$addr{web2}/restore?cluster=proget", %bearer)
   ->{status}, 200, 'restore web2, naming its cluster');
is(post("/cluster/nodes/$addr{web2}/restore?cluster=other", %bearer)
   ->{status}, 404, 'naming another cluster: 404');

$seen = $t->spread(9);
is(scalar keys %$seen, 3, 'all three serve again') or diag explain $seen;

# nginx's own auth_basic in front
is(post("/basic/nodes/$addr{web3}/drain")->{status}, 401,
   'auth_basic: no credentials, 401');
is(post("/basic/nodes/$addr{web3}/drain",
        Authorization => 'Basic ' . 'b3BlcmF0b3I6bGV0bWVpbg==')->{status},
   200, 'auth_basic: the operator may');
like($t->cluster('proget')->{last_actions}[0]{by},
     qr/^operator from 127\.0\.0\.1$/, 'and is named');
is(state('web3'), 'drained', 'web3 drained');

$t->check_logs;

done_testing;
