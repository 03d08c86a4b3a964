#!/usr/bin/perl

# make deb builds a package that installs, runs and purges cleanly: the
# module in /usr/lib/nginx/modules, its load file in modules-available,
# enabled in modules-enabled on install, a dependency on the nginx ABI it
# was built for and on the libraries it links, the state folder owned by
# the workers' user; nginx -t passes with the system's own nginx.conf and
# an upstream that uses the module; nginx runs with the module as Debian
# loads it; a purge leaves nothing behind.  As root only (CI runs so): it
# installs a package on the machine, and removes it again.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use ClusterTest;

plan(skip_all => 'installs a package: as root only') if $> != 0;
plan(skip_all => 'for the release build') if $ENV{CLUSTER_SANITIZE};
plan(skip_all => 'no apt-get') unless -x '/usr/bin/apt-get';

my $t = ClusterTest->new(workers => 1);
my $dir = $t->dir;

my $pkg = 'libnginx-mod-http-cluster';
my $so = '/usr/lib/nginx/modules/ngx_http_cluster_module.so';
my $conf = '/usr/share/nginx/modules-available/mod-http-cluster.conf';
my $link = '/etc/nginx/modules-enabled/50-mod-http-cluster.conf';
my $state = '/var/lib/nginx/cluster';
my $snippet = '/etc/nginx/conf.d/zz-cluster-test.conf';

# nothing of an earlier, broken run
system("dpkg -s $pkg >/dev/null 2>&1 && apt-get purge -y -q $pkg >/dev/null 2>&1");

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
    unlink $snippet if $snippet;
    # a run that stopped half-way leaves no package behind either
    system("dpkg -s $pkg >/dev/null 2>&1"
           . " && apt-get purge -y -q $pkg >/dev/null 2>&1") if $pkg;
    unlink $policy if $own_policy && $policy;
}

my $out = `DEB_OUT=$dir bash tests/deb.sh 2>&1`;
is($?, 0, 'make deb built the package') or diag $out;
my ($deb) = glob "$dir/${pkg}_*_*.deb";
ok($deb && -s $deb, 'libnginx-mod-http-cluster_VERSION_ARCH.deb')
    or BAIL_OUT('no package');

my $control = `dpkg-deb -f $deb Depends`;
my ($abi) = `dpkg-query -W -f='\${Provides}' nginx-core nginx 2>/dev/null`
    =~ /(nginx-abi-[\w.~+-]+)/;
like($control, qr/\Q$abi\E/, "Depends: the nginx ABI it was built for ($abi)");
like($control, qr/libsodium23/, 'and the libraries it links: libsodium');
like($control, qr/libjansson4/, 'jansson');
like($control, qr/libpq5/, 'libpq');

$out = `DEBIAN_FRONTEND=noninteractive apt-get install -y -q $deb 2>&1`;
is($?, 0, 'apt-get install ./...deb') or diag $out;

ok(-f $so, "the module in $so");
ok(-f $conf, "its load file in $conf");
like(do { local (@ARGV, $/) = ($conf); <> },
     qr{^load_module modules/ngx_http_cluster_module\.so;$}m, 'which loads it');
is(readlink($link), $conf, "enabled: $link");
my @st = stat $state;
ok(@st && $st[4] == getpwnam('www-data'), "$state, the workers' (www-data)");

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

# removed, then purged: nothing left behind
$out = `DEBIAN_FRONTEND=noninteractive apt-get purge -y -q $pkg 2>&1`;
is($?, 0, 'apt-get purge') or diag $out;
ok(!-e $so, 'the module is gone');
ok(!-e $conf, 'its load file');
ok(!-e $link && !-e "$link.removed", 'its link in modules-enabled');
ok(!-e $state, 'and the state folder');
my $status = `dpkg-query -W -f='\${Status}' $pkg 2>/dev/null`;
ok($status eq '' || $status =~ /not-installed/, 'dpkg has it not installed')
    or diag $status;

$out = `/usr/sbin/nginx -t 2>&1`;
is($?, 0, 'the system nginx -t passes without it') or diag $out;

$t->check_logs;

done_testing;
