#!/usr/bin/perl

# The bridge's status location (http-request use-service lua.cluster_status):
# the same page in Chromium, the same JSON document and the same Prometheus
# text (checked by promtool) as nginx's, rendered by the same core; and a
# bad value in the bridge's file stops haproxy -c, with the file, the line
# and what was expected.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use JSON::PP;
use ClusterHAProxy;

my $t = ClusterHAProxy->new;

$t->sim('web1', version => '23.0.27');
$t->sim('web2', version => '22.0.1');

my $sections = <<'EOF';
frontend web
    bind 127.0.0.1:%%PORT_http%%
    http-request use-service lua.cluster_status if { path_beg /cluster }
    default_backend proget

backend proget
    server web1 127.0.0.1:%%PORT_web1%%
    server web2 127.0.0.1:%%PORT_web2%%
EOF

# each bad line, and what haproxy -c must say of it
my @bad = (
    [ 'cluster_heartbeat interval=0s;',
      qr/invalid time in "interval=0s", expected a time of at least 100ms and at most 1d/ ],
    [ 'cluster_heartbeat interval=10m stale=5m;',
      qr/"stale" \(5m\) must be longer than "interval" \(10m\)/ ],
    [ 'cluster_check rise=0;',
      qr/invalid value in "rise=0", expected a number from 1 to 1000/ ],
    [ 'cluster_check uri=health;',
      qr/invalid URI in "uri=health", expected a path that starts with "\/"/ ],
    [ 'cluster_eject sometimes;',
      qr/invalid value "sometimes", expected "stale", "down"/ ],
    [ 'cluster_slow_start forever;',
      qr/invalid time in "forever"/ ],
    [ 'cluster_key file=%%DIR%%/missing.key;',
      qr/cannot open the key file ".*missing\.key"/ ],
    [ 'cluster_cookie name=(;',
      qr/invalid regular expression in "name=\("/ ],
    [ 'cluster_check; cluster_check;',
      qr/"cluster_check" directive is duplicate/ ],
    [ 'cluster_heartbeat interval=30s',
      qr/unexpected "}", expected ";"/ ],
    [ 'cluster_beat interval=30s;',
      qr/unknown directive "cluster_beat"/ ],
);

for my $case (@bad) {
    my ($line, $expect) = @$case;

    $t->write_haproxy($sections, "# a bad line\nbackend proget {\n    $line\n}\n");

    my ($rc, $out) = $t->test_haproxy;
    isnt($rc, 0, "haproxy -c refuses: $line");
    like($out, $expect, '  saying what was expected');
    like($out, qr/in \S+\/cluster\.conf:3/, '  with the file and line');
}

# a good key from an Inedo configuration file is taken
open my $ic, '>', $t->dir . '/ProGet.config' or die;
print $ic "<InedoAppConfig><EncryptionKey>00112233445566778899AABBCCDDEEFF"
    . "</EncryptionKey></InedoAppConfig>\n";
close $ic;
chmod 0600, $t->dir . '/ProGet.config';
$t->write_haproxy($sections, "backend proget {\n    cluster_key "
                  . "inedo_config=%%DIR%%/ProGet.config;\n}\n");
my ($krc, $kout) = $t->test_haproxy;
is($krc, 0, 'cluster_key inedo_config= taken') or diag $kout;

# a backend the bridge's file names but haproxy.cfg does not: found when
# the servers are known, at the start, which it stops
$t->write_haproxy($sections, "backend nosuch {\n}\n");
my $dir = $t->dir;
my $out = do {
    my %env = $t->_env('haproxy');
    local @ENV{keys %env} = values %env;
    `timeout 10 /usr/sbin/haproxy -db -f $dir/haproxy.cfg 2>&1`;
};
my $rc = $? >> 8;
ok($rc != 0 && $rc != 124, 'a backend haproxy.cfg does not have: no start');
like($out, qr/names the backend "nosuch", which haproxy\.cfg does not have/,
     '  saying so');

# a cluster_node_name of no server of the backend: no start either
$t->write_haproxy($sections, "backend proget {\n    cluster_node_name "
                  . "127.0.0.9:1 ghost;\n}\n");
$out = do {
    my %env = $t->_env('haproxy');
    local @ENV{keys %env} = values %env;
    `timeout 10 /usr/sbin/haproxy -db -f $dir/haproxy.cfg 2>&1`;
};
$rc = $? >> 8;
ok($rc != 0 && $rc != 124, 'a cluster_node_name of no server: no start');
like($out, qr/"cluster_node_name 127\.0\.0\.9:1" names no server of the backend/,
     '  saying so');

# the real thing
$t->write_haproxy($sections, <<'EOF');
cluster_status refresh=5s;

backend proget {
    cluster_heartbeat interval=500ms stale=1m;
    cluster_check rise=1 fall=1;
    cluster_eject down;
}
EOF

$t->run_haproxy;

ok($t->wait_for(sub {
       !grep { !$_->{health}{last_check} } @{$t->cluster('proget')->{nodes}}
   }, 5), 'both nodes checked');

my $doc = $t->status;
is($doc->{version}, '0.1.0', 'the JSON document, the module\'s version');
my $c = $doc->{clusters}[0];
is($c->{name}, 'proget', 'the backend is the cluster');
is($c->{release}, '23.0.27', 'the cluster\'s release: the newest of equals');
my ($w2) = grep { $_->{name} eq 'web2' } @{$c->{nodes}};
is($w2->{version}{in_sync}, JSON::PP::false, 'web2 out of sync');
ok((grep { /version/i } @{$w2->{hints}}), 'with a hint');

my $r = $t->get('/cluster', Accept => 'text/html');
like($r->{headers}{'content-type'}, qr{^text/html}, 'a browser gets the page');
is($r->{headers}{'cache-control'}, 'no-store', 'never cached');
is($r->{headers}{'x-frame-options'}, 'DENY', 'never framed');
like($r->{body}, qr/<body data-refresh="5"/,
     'refresh=5s of cluster_status');

my $prom = $t->get('/cluster?format=prometheus')->{body};
like($prom, qr/^nginx_cluster_node_in_rotation\{cluster="proget",node="[^"]+",name="web1"\} 1$/m,
     'the Prometheus text');

open my $fh, '>', $t->dir . '/metrics.txt' or die;
print $fh $prom;
close $fh;

my $promtool = `promtool check metrics < ${\ $t->dir}/metrics.txt 2>&1`;
is($?, 0, 'promtool check metrics passes') or diag $promtool;
is($promtool, '', 'with nothing to say') or diag $promtool;

$r = $t->get('/cluster', Accept => 'text/html');
is(ClusterTest::http_request($t->port('http'), 'DELETE', '/cluster')->{status},
   405, 'the status takes GET only');

# a real browser renders the page
my $url = 'http://127.0.0.1:' . $t->port('http') . '/cluster?format=html';
my $profile = $t->dir . '/chromium';
my @chromium = ('timeout', '60', 'chromium', '--headless', '--no-sandbox',
    '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update',
    '--disable-sync', "--user-data-dir=$profile");

my $dom = `@chromium --dump-dom '$url' 2>/dev/null`;
like($dom, qr{<strong>web1</strong>}, 'Chromium renders the table, with web1');
like($dom, qr{<button id="pause" type="button">Pause</button>},
     'and the page\'s script ran');

my $shot = $ENV{CLUSTER_ARTIFACTS} // $t->dir;
system("mkdir -p '$shot'");
system("@chromium --screenshot='$shot/haproxy-status-page.png' "
       . "--window-size=1400,700 --hide-scrollbars '$url' >/dev/null 2>&1");
ok(-s "$shot/haproxy-status-page.png" > 10000,
   "a screenshot, $shot/haproxy-status-page.png");

$t->check_logs;

done_testing;
