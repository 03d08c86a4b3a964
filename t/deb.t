#!/usr/bin/perl

# make deb builds two packages that install, run and purge cleanly:
#
# - libnginx-mod-http-cluster: the module in /usr/lib/nginx/modules, its
#   load file in modules-available, enabled in modules-enabled on install,
#   a dependency on the nginx ABI it was built for and on the libraries it
#   links, the state folder owned by the workers' user; nginx -t passes
#   with the system's own nginx.conf and an upstream that uses the module;
#   nginx runs with the module as Debian loads it;
# - haproxy-cluster-bridge: cluster.lua and cluster_bridge.so where the
#   README's haproxy.cfg loads them from, a dependency on the system's
#   HAProxy branch, on the Lua library that HAProxy runs and on the
#   libraries it links; haproxy -c passes with the system's own haproxy.cfg
#   and the bridge; haproxy runs the installed bridge in front of a node,
#   and the bridge's status answers;
#
# and a purge leaves nothing behind.  As root only (CI runs so): it
# installs packages on the machine, and removes them again.

use strict;
use warnings;

use lib 't/lib';
use Cwd ();
use Test::More;
use ClusterHAProxy;

plan(skip_all => 'installs packages: as root only') if $> != 0;
plan(skip_all => 'for the release build') if $ENV{CLUSTER_SANITIZE};
plan(skip_all => 'no apt-get') unless -x '/usr/bin/apt-get';

my $module = 'libnginx-mod-http-cluster';
my $bridge = 'haproxy-cluster-bridge';
my @pkgs = ($module, $bridge);
my $so = '/usr/lib/nginx/modules/ngx_http_cluster_module.so';
my $conf = '/usr/share/nginx/modules-available/mod-http-cluster.conf';
my $link = '/etc/nginx/modules-enabled/50-mod-http-cluster.conf';
my $state = '/var/lib/nginx/cluster';
my $snippet = '/etc/nginx/conf.d/zz-cluster-test.conf';
my $lua_dir = '/usr/lib/haproxy-cluster';

# what this test runs is what the packages install, not the tree's builds
$ENV{CLUSTER_MODULE} = $so;
$ENV{CLUSTER_BRIDGE} = "$lua_dir/cluster.lua";
$ENV{NGINX_BIN} //= '/usr/sbin/nginx';

my $t = ClusterHAProxy->new(workers => 1);
my $dir = $t->dir;

# purges those of the packages dpkg knows; what apt-get said
sub purge {
    my @known = grep { `dpkg-query -W -f='\${Status}' $_ 2>/dev/null`
                       =~ /installed|config-files|unpacked|half/ } @_;
    return '' unless @known;
    return `DEBIAN_FRONTEND=noninteractive apt-get purge -y -q @known 2>&1`;
}

# nothing of an earlier, broken run
purge(@pkgs);

# nginx's postinst, run by the trigger, starts no service during the test
my $policy = '/usr/sbin/policy-rc.d';
my $own_policy = !-e $policy;
if ($own_policy) {
    open my $fh, '>', $policy or die "$policy: $!";
    print $fh "#!/bin/sh\nexit 101\n";
    close $fh;
    chmod 0755, $policy;
}

END {
    # a run that stopped half-way leaves no server and no package behind
    $t->stop if $t;
    unlink $snippet if $snippet;
    purge(@pkgs) if @pkgs;
    unlink $policy if $own_policy && $policy;
}

my ($rc, $out);
$out = `DEB_OUT=$dir bash tests/deb.sh 2>&1`;
is($?, 0, 'make deb built the packages') or diag $out;
my ($deb) = glob "$dir/${module}_*_*.deb";
ok($deb && -s $deb, "${module}_VERSION_ARCH.deb")
    or BAIL_OUT('no package of the module');
my ($bdeb) = glob "$dir/${bridge}_*_*.deb";
ok($bdeb && -s $bdeb, "${bridge}_VERSION_ARCH.deb")
    or BAIL_OUT('no package of the bridge');

# the package of each library the build links, as this release names it
# (libsodium23 on Debian 12 and 13, libsodium26 on unstable)
my %lib;
for my $name (qw(sodium jansson pq pcre2-8)) {
    chomp(my $so = `cc -print-file-name=lib$name.so`);
    my $real = Cwd::realpath($so) // $so;
    ($lib{$name}) = `dpkg -S $real 2>/dev/null` =~ /^([\w.+-]+)[:,]/;
    $lib{$name} //= "lib$name (not found)";
}

my $control = `dpkg-deb -f $deb Depends`;
my ($abi) = `dpkg-query -W -f='\${Provides}' nginx-core nginx 2>/dev/null`
    =~ /(nginx-abi-[\w.~+-]+)/;
like($control, qr/\Q$abi\E/, "Depends: the nginx ABI it was built for ($abi)");
like($control, qr/\b\Q$lib{sodium}\E\b/,
     "and the libraries it links: libsodium ($lib{sodium})");
like($control, qr/\b\Q$lib{jansson}\E\b/, "jansson ($lib{jansson})");
like($control, qr/\b\Q$lib{pq}\E\b/, "libpq ($lib{pq})");

# the bridge's: the system's HAProxy branch, and the Lua it runs
$control = `dpkg-deb -f $bdeb Depends`;
my ($branch) = `dpkg-query -W -f='\${Version}' haproxy`
    =~ /^(?:\d+:)?(\d+\.\d+)/;
my ($major, $minor) = split /\./, $branch;
my ($lua) = `/usr/sbin/haproxy -vv`
    =~ /^Built with Lua version : Lua (\d+\.\d+)/m;
my ($liblua) = `dpkg-query -W -f='\${Depends}' haproxy`
    =~ /\b(liblua\Q$lua\E-\w+)/;
my $next = $major . '.' . ($minor + 1);
like($control, qr/haproxy \(>= \Q$branch\E~\), haproxy \(<< \Q$next\E~\)/,
     "Depends: the branch of the system's HAProxy ($branch)");
like($control, qr/(?:^|, )\Q$liblua\E(?:,|$| )/,
     "and the Lua library it runs ($liblua: Lua $lua)");
like($control, qr/\b\Q$lib{sodium}\E\b/,
     "and the libraries it links: libsodium ($lib{sodium})");
like($control, qr/\b\Q$lib{jansson}\E\b/, "jansson ($lib{jansson})");
like($control, qr/\b\Q$lib{pq}\E\b/, "libpq ($lib{pq})");
like($control, qr/\b\Q$lib{'pcre2-8'}\E\b/, "pcre2 ($lib{'pcre2-8'})");

$out = `DEBIAN_FRONTEND=noninteractive apt-get install -y -q $deb $bdeb 2>&1`;
is($?, 0, 'apt-get install ./...deb ./...deb') or diag $out;

# every file of both, to find none of them after the purge
my %files = map { $_ => [ grep { -f || -l } split /\n/, `dpkg -L $_` ] } @pkgs;

ok(-f $so, "the module in $so");
ok(-f $conf, "its load file in $conf");
like(do { local (@ARGV, $/) = ($conf); <> },
     qr{^load_module modules/ngx_http_cluster_module\.so;$}m, 'which loads it');
is(readlink($link), $conf, "enabled: $link");
my @st = stat $state;
ok(@st && $st[4] == getpwnam('www-data'), "$state, the workers' (www-data)");

ok(-f "$lua_dir/cluster.lua" && -f "$lua_dir/cluster_bridge.so",
   "the bridge in $lua_dir: cluster.lua and cluster_bridge.so");
open my $rfh, '<', 'README.md' or die "README.md: $!";
my @loads = map { /^\s+lua-load\s+(\S+)/ ? $1 : () } <$rfh>;
close $rfh;
ok(@loads && !grep({ $_ ne "$lua_dir/cluster.lua" } @loads),
   "where the README's haproxy.cfg loads it from") or diag "@loads";

# nginx -t with the system's own nginx.conf and an upstream using it
$t->sim('web1');
my $port = $t->port('web1');
open my $fh, '>', $snippet or die;
print $fh <<"EOF";
upstream cluster_test_package {
    server 127.0.0.1:$port;
    cluster zone=cluster_test_package:1m;
    cluster_check uri=/health rise=1;
}
EOF
close $fh;

$out = `/usr/sbin/nginx -t 2>&1`;
is($?, 0, 'nginx -t with /etc/nginx/nginx.conf and a cluster') or diag $out;
unlink $snippet;

# nginx with the module as Debian loads it, in front of a node
my $http = $t->port('http');
open $fh, '>', "$dir/nginx.conf" or die;
print $fh <<"EOF";
include /etc/nginx/modules-enabled/*.conf;
user www-data;
pid $dir/nginx.pid;
error_log $dir/error.log notice;
worker_processes 1;
daemon off;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path $dir/client_body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;

    upstream proget {
        server 127.0.0.1:$port;
        cluster zone=proget:1m;
        cluster_check uri=/health rise=1;
    }

    cluster_state_file $state/state.json;

    server {
        listen 127.0.0.1:$http;
        location / { proxy_pass http://proget; }
        location /cluster { cluster_status; }
    }
}
EOF
close $fh;

# Debian's prefix, where modules/ is /usr/lib/nginx/modules
my $pid = fork // die "fork: $!";
if ($pid == 0) {
    open STDOUT, '>>', "$dir/stderr.log";
    open STDERR, '>>', "$dir/stderr.log";
    exec '/usr/sbin/nginx', '-p', '/usr/share/nginx/', '-c', "$dir/nginx.conf",
         '-e', "$dir/error.log";
    die "exec: $!";
}
$t->{nginx} = $pid;
$t->wait_port($http) or BAIL_OUT('nginx did not start: '
                                 . $t->read_file('error.log'));

ok($t->all_up('proget', 5), 'the system nginx runs the packaged module');
is($t->get('/')->{headers}{'x-node'}, 'web1', 'and balances to the node');
$t->stop;
ok(-f "$state/state.json", 'its state file written in the state folder');
# the harness's nginx checks (ClusterHAProxy's look at haproxy's log)
is(join("\n", ClusterTest::problems($t)), '',
   'no alert, crit, emerg or failed worker in nginx\'s logs');

# haproxy -c with the system's own haproxy.cfg (chroot, user, daemon) and
# the README's lines that load the installed bridge
my $sections = <<'EOF';
frontend web
    bind 127.0.0.1:%%PORT_http%%
    http-request use-service lua.cluster_status if { path_beg /cluster }
    default_backend proget

backend proget
    http-request set-var(txn.cluster_cookie) req.fhdr(cookie)
    http-response lua.cluster_response
    default-server weight 100
    server web1 127.0.0.1:%%PORT_web1%%
EOF
my $cluster = <<'EOF';
backend proget {
    cluster_heartbeat interval=500ms stale=1m;
    cluster_check uri=/health/json timeout=1s rise=1 fall=2;
}
EOF
$t->write_haproxy($sections, $cluster);

open $fh, '>', "$dir/system.cfg" or die;
print $fh "global\n",
    "    setenv CLUSTER_CONF $dir/cluster.conf\n",
    "    lua-load $lua_dir/cluster.lua\n\n",
    # the harness's global section goes, with its conditional lines
    $t->read_file('haproxy.cfg') =~ s/^global\n(?:(?:[ \t]+|\.).*\n)*//r;
close $fh;
my $system = '/etc/haproxy/haproxy.cfg';
$out = `/usr/sbin/haproxy -c -f $system -f $dir/system.cfg 2>&1`;
is($?, 0, 'haproxy -c with /etc/haproxy/haproxy.cfg and the bridge')
    or diag $out;

# the system's haproxy with the installed bridge, in front of the node
($rc, $out) = $t->test_haproxy;
is($rc, 0, "haproxy -c: lua-load $lua_dir/cluster.lua") or diag $out;
$t->run_haproxy;

ok($t->all_up('proget', 5), 'the system haproxy runs the packaged bridge');
my $c = $t->cluster('proget');
is($c->{nodes}[0]{name}, 'web1', 'its status answers, with the node');
is($t->get('/')->{headers}{'x-node'}, 'web1', 'and haproxy sends to it');
$t->stop;
$t->check_logs;

# removed, then purged: nothing left behind
$out = purge(@pkgs);
is($?, 0, 'apt-get purge of both') or diag $out;
ok(!-e $so, 'the module is gone');
ok(!-e $conf, 'its load file');
ok(!-e $link && !-e "$link.removed", 'its link in modules-enabled');
ok(!-e $state, 'the state folder');
ok(!-e $lua_dir, "the bridge's folder, $lua_dir");
for my $p (@pkgs) {
    my @left = grep { -e || -l } @{$files{$p}};
    ok(@{$files{$p}} && !@left, "none of ${p}'s files") or diag "@left";
    my $status = `dpkg-query -W -f='\${Status}' $p 2>/dev/null`;
    ok($status eq '' || $status =~ /not-installed/,
       '  dpkg has it not installed') or diag $status;
}

$out = `/usr/sbin/nginx -t 2>&1`;
is($?, 0, 'the system nginx -t passes without the module') or diag $out;
$out = `/usr/sbin/haproxy -c -f /etc/haproxy/haproxy.cfg 2>&1`;
is($?, 0, 'the system haproxy -c without the bridge') or diag $out;

done_testing;
