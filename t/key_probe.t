#!/usr/bin/perl

# The active variant of the behavioural key check, "cluster_cookie probe=":
# in a cluster too quiet to give evidence (users sign in and go), the
# checks send each node the last session another node set, on a harmless
# GET, and its answer counts as a user's would.  Without "probe=", no
# verdict; with it, the node with another key is found.  No cookie or key
# reaches a log.

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

my $config = <<'EOF';
    upstream proget {
        server 127.0.0.1:%%PORT_web1%%;
        server 127.0.0.1:%%PORT_web2%%;
        server 127.0.0.1:%%PORT_web3%%;

        cluster zone=proget_cluster:1m;
        cluster_heartbeat interval=200ms stale=1m;
        cluster_check uri=/health rise=2 fall=2;
        cluster_cookie name=^\.ProGetAuth$ login=^/log-in PROBE;
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

(my $passive = $config) =~ s/ PROBE//;
(my $active = $config) =~ s/ PROBE/ probe=\/feeds\//;

$t->write_config($passive);
$t->run;

my $addr2 = '127.0.0.1:' . $t->port('web2');
sub web2 { $t->node('proget', $addr2) }

ok($t->all_up('proget'), 'all three up');

# users sign in, one now and then, and go: no session comes back
sub sign_ins {
    my ($n, $until) = @_;
    for my $i (1 .. $n) {
        $t->get('/log-in');
        select undef, undef, undef, 0.5;
        return $i if $until && $until->();
    }
    return $n;
}

sign_ins(6);
my $k = web2()->{encryption_key};
is($k->{in_sync}, undef, 'without probe=, a quiet cluster gives no verdict');
is($k->{sessions_refused} + $k->{sessions_served}, 0, 'nor any evidence');
my $redirects = $t->sim_stats('web2')->{login_redirects};

$t->write_config($active);
$t->reload;

my $n = sign_ins(30, sub { !web2()->{in_rotation} });
$k = web2()->{encryption_key};
ok(!web2()->{in_rotation}, "with probe=/feeds/, web2 out of rotation after $n more sign-ins")
    or diag explain web2();
is($k->{in_sync}, JSON::PP::false, 'web2: key not in sync');
is($k->{evidence}, 'cross_node', 'by the sessions replayed to the nodes');
cmp_ok($t->sim_stats('web2')->{login_redirects}, '>', $redirects,
       'web2 was sent the others\' sessions, and sent them to sign in');
is_deeply(web2()->{reasons}, ['key_mismatch'], 'for key_mismatch');

for my $name (qw(web1 web3)) {
    is($t->node('proget', '127.0.0.1:' . $t->port($name))
         ->{encryption_key}{in_sync}, JSON::PP::true, "$name in sync");
}

$t->stop;

my $all = join '', map { $t->read_file($_) } qw(error.log);
unlike($all, qr/$shared|$other/i, 'the keys are in no log');
unlike($all, qr/\.ProGetAuth=/, 'nor any cookie');

$t->check_logs;

done_testing;
