#!/usr/bin/perl

# The status location's three formats: JSON by default, the HTML page for a
# browser (rendered by a real headless Chromium), Prometheus' text format
# (checked by promtool); what a node says reaches the page only as text.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use ClusterTest;

my $t = ClusterTest->new(workers => 1);

$t->sim('web1');
$t->sim('web2', version => '23.0.30');
$t->sim('evil');
$t->sim_control('evil', 'answer=script');

$t->write_config(<<'EOF');
    upstream proget {
        server 127.0.0.1:%%PORT_web1%%;
        server 127.0.0.1:%%PORT_web2%%;
        server 127.0.0.1:%%PORT_evil%%;

        cluster zone=proget_cluster:1m;
        cluster_node_name 127.0.0.1:%%PORT_web1%% web1;
        cluster_node_name 127.0.0.1:%%PORT_web2%% web2;
        cluster_node_name 127.0.0.1:%%PORT_evil%% "<b>evil</b>";
        cluster_heartbeat interval=300ms stale=1m;
        cluster_check uri=/health rise=1 fall=1;
    }

    server {
        listen 127.0.0.1:%%PORT_http%%;

        location / {
            proxy_pass http://proget;
        }

        location /cluster {
            cluster_status refresh=7s;
        }
    }
EOF

$t->run;

ok($t->wait_for(sub {
    !grep { $_->{health}{checks} < 1 } @{$t->cluster('proget')->{nodes}};
}, 5), 'every node checked');

$t->spread(6);

# JSON, unless asked otherwise
my $r = $t->get('/cluster');
like($r->{headers}{'content-type'}, qr{^application/json}, 'JSON by default');
is($r->{headers}{vary}, 'Accept', 'varies by Accept');

# the page, for a browser
$r = $t->get('/cluster', Accept => 'text/html,application/xhtml+xml,*/*;q=0.8');
is($r->{status}, 200, 'a browser gets the page');
like($r->{headers}{'content-type'}, qr{^text/html; charset=utf-8}, 'as HTML');
is($r->{headers}{'x-frame-options'}, 'DENY', 'no other site may frame it');
is($r->{headers}{'content-security-policy'}, "frame-ancestors 'none'",
   'said twice');

my $html = $r->{body};
like($html, qr{<h3>Cluster Configuration</h3>}, 'the configuration pane');
like($html, qr{<h3>Servers in Cluster</h3>}, 'the servers table');
like($html, qr{<dt>Heartbeat interval</dt><dd>300 ms</dd>}, 'the interval');
like($html, qr{data-refresh="7"}, 'refreshes as configured');
like($html, qr{<strong>web1</strong>}, 'a node by its name');
like($html, qr{23\.0\.30 <span class="warn">&#9888; not in sync}, 'a release out of sync, marked');
like($html, qr{Software version 23\.0\.30 is not in sync}, 'with its hint');
like($html, qr{&lt;script&gt;alert\(1\)&lt;/script&gt;},
     'a node\'s markup shows as text');
like($html, qr{&lt;b&gt;evil&lt;/b&gt;}, 'a configured name too');
unlike($html, qr{<script>alert|<b>evil}, 'and never as markup');
unlike($html, qr{(src|href)="(https?:)?//}, 'nothing loaded from elsewhere');

is($t->get('/cluster?format=html')->{headers}{'content-type'},
   'text/html; charset=utf-8', '?format=html');
like($t->get('/cluster?format=json', Accept => 'text/html')
     ->{headers}{'content-type'}, qr{^application/json},
     '?format= wins over Accept');

# Prometheus
$r = $t->get('/cluster?format=prometheus');
is($r->{headers}{'content-type'}, 'text/plain; version=0.0.4; charset=utf-8',
   'Prometheus text format');

my $prom = $r->{body};
my $web1 = '127.0.0.1:' . $t->port('web1');
like($prom, qr/^nginx_cluster_node_state\{cluster="proget",node="\Q$web1\E",name="web1",state="up"\} 1$/m,
     'state as a one-hot gauge');
like($prom, qr/^nginx_cluster_node_requests_total\{cluster="proget",node="\Q$web1\E",name="web1"\} 2$/m,
     'requests as a counter');
like($prom, qr/^nginx_cluster_node_version_in_sync\{[^}]*name="web2"\} 0$/m,
     'version out of sync');
like($prom, qr/^nginx_cluster_node_version_info\{[^}]*name="web1",release="23\.0\.27",display="2023\.27 \(Build 1\)"\} 1$/m,
     'version info');
like($prom, qr/^nginx_cluster_panic\{cluster="proget"\} 0$/m, 'panic');

open my $fh, '>', $t->dir . '/metrics.txt' or die;
print $fh $prom;
close $fh;

my $promtool = `promtool check metrics < ${\ $t->dir}/metrics.txt 2>&1`;
is($?, 0, 'promtool check metrics passes') or diag $promtool;
is($promtool, '', 'with nothing to say') or diag $promtool;

# a real browser renders the page
my $url = 'http://127.0.0.1:' . $t->port('http') . '/cluster?format=html';
my $profile = $t->dir . '/chromium';
my @chromium = ('timeout', '60', 'chromium', '--headless', '--no-sandbox',
    '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update',
    '--disable-sync', "--user-data-dir=$profile");

my $dom = `@chromium --dump-dom '$url' 2>/dev/null`;
like($dom, qr{<td><span class="ok" title="ok">✔</span> <strong>web1</strong>},
     'Chromium renders the table, web1 with its mark');
like($dom, qr{<button id="pause" type="button">Pause</button>},
     'and the pause button, set by the page\'s script');

my $shot = $ENV{CLUSTER_ARTIFACTS} // $t->dir;
system("mkdir -p '$shot'");
system("@chromium --screenshot='$shot/status-page.png' --window-size=1400,700 "
       . "--hide-scrollbars '$url' >/dev/null 2>&1");
ok(-s "$shot/status-page.png" > 10000, "a screenshot, $shot/status-page.png");

$t->check_logs;

done_testing;
