#!/usr/bin/perl

# The bridge is built for the Lua that HAProxy runs, and a bridge built for
# another one is refused at the start in one line that says what to
# rebuild (not Lua's "version mismatch", nor an unknown service after it);
# make bridge says what it lacks: an HAProxy that tells its Lua, lua.h.
# The README's global section starts HAProxy 3.2 and later with no warning.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use ClusterHAProxy;

my $t = ClusterHAProxy->new;
my $dir = $t->dir;
my $bin = $t->{haproxy_bin};

my ($runs) = `$bin -vv 2>&1` =~ /Built with Lua version : Lua (\d+\.\d+)/;
ok($runs, "HAProxy says its Lua: " . ($runs // 'none'));
$runs //= '?';

my $sections = <<'EOF';
frontend web
    bind 127.0.0.1:%%PORT_http%%
    http-request use-service lua.cluster_status if { path_beg /cluster }
    default_backend proget

backend proget
    http-response lua.cluster_response
    server web1 127.0.0.1:%%PORT_web1%%
EOF

$t->write_haproxy($sections, "backend proget {\n}\n");

my ($rc, $out) = $t->test_haproxy;
is($rc, 0, "the bridge of make test loads in HAProxy's Lua $runs")
    or diag $out;
unlike($out, qr/WARNING/,
       'with no warning (3.2 and later: tune.lua.bool-sample-conversion, '
       . 'set as the README says)');

# make's own messages, into a folder of the test's
my $make = "make -s bridge SANITIZE=0 BUILD=$dir/build";

$out = `$make HAPROXY_BIN=$dir/no-haproxy 2>&1`;
isnt($?, 0, 'no HAProxy to ask: make bridge stops');
like($out, qr/no-haproxy says no Lua version .*set HAPROXY_BIN, or LUA=5\.3 or LUA=5\.4/,
     '  saying what to set');

$out = `$make LUA=5.9 2>&1`;
isnt($?, 0, 'a Lua whose lua.h is missing: make bridge stops');
like($out, qr/no lua\.h for Lua 5\.9 .*install liblua5\.9-dev/,
     '  naming the package');

# a bridge built for the other Lua, when its headers are here
my $other = $runs eq '5.3' ? '5.4' : '5.3';

SKIP: {
    skip "no /usr/include/lua$other/lua.h (liblua$other-dev) to build a "
         . "bridge for the other Lua", 5
        unless -f "/usr/include/lua$other/lua.h";

    $out = `$make LUA=$other 2>&1`;
    is($?, 0, "a bridge built for Lua $other") or diag $out;

    local $ENV{CLUSTER_BRIDGE} = "$dir/build/haproxy/cluster.lua";
    $t->write_haproxy($sections, "backend proget {\n}\n");

    ($rc, $out) = $t->test_haproxy;
    isnt($rc, 0, "HAProxy with Lua $runs refuses it");
    my @alerts = grep { /ALERT/ && !/Error\(s\) found|Fatal errors/ }
                 split /\n/, $out;
    is(scalar @alerts, 1, '  in one line') or diag $out;
    like($alerts[0] // '', qr/cluster: \S+cluster_bridge\.so was built for Lua \Q$other\E, and HAProxy \S+ runs Lua \Q$runs\E: rebuild it with "make bridge LUA=\Q$runs\E" \(liblua\Q$runs\E-dev\)/,
         '  that says what to rebuild') or diag $out;
    unlike($out, qr/version mismatch|unknown service/,
           '  and nothing else');
}

done_testing;
