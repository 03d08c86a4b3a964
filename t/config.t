#!/usr/bin/perl

# Each bad value of a directive fails "nginx -t" with the file, the line and
# what was expected.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use ClusterTest;

my $t = ClusterTest->new;

# the line marked BAD is the one nginx must point at
sub check {
    my ($upstream, $error, $server) = @_;

    $server //= '';

    my $file = $t->write_config(<<"EOF");
    upstream proget {
        server 127.0.0.1:8001;
$upstream
    }

    server {
        listen 127.0.0.1:%%PORT_http%%;
        location / { proxy_pass http://proget; }
$server
    }
EOF

    my @lines = split /\n/, $t->read_file('nginx.conf');
    my ($line) = grep { $lines[$_ - 1] =~ /# BAD/ } 1 .. @lines;

    my ($rc, $out) = $t->test_config;

    my $what = ($upstream =~ /(\S.*?)\s*# BAD/ ? $1 : '')
               . ($server =~ /(\S.*?)\s*# BAD/ ? $1 : '');

    isnt($rc, 0, "nginx -t fails: $what");
    like($out, qr/$error/, "  says what is wrong") or diag $out;
    like($out, qr/\Q$file\E:$line\b/, "  at the right file and line")
        or diag $out;
}

check('cluster zone=c:1m; cluster foo;  # BAD',
      qr/"cluster" directive is duplicate/);
check('cluster foo;  # BAD',
      qr/invalid parameter "foo", expected "zone=NAME:SIZE"/);
check('cluster zone=c;  # BAD',
      qr/invalid zone "zone=c", expected "zone=NAME:SIZE"/);
check('cluster zone=:1m;  # BAD',
      qr/invalid zone "zone=:1m"/);
check('cluster zone=c:lots;  # BAD',
      qr/invalid zone size "lots", expected a size such as 1m/);
check('cluster zone=c:1k;  # BAD',
      qr/zone "c" is too small, the minimum is \d+k/);
check("cluster zone=c:1m;\ncluster_heartbeat interval=0s;  # BAD",
      qr/invalid time in "interval=0s", expected a time of at least 100ms/);
check("cluster zone=c:1m;\ncluster_heartbeat interval=soon;  # BAD",
      qr/invalid time in "interval=soon"/);
check("cluster zone=c:1m;\ncluster_heartbeat every=30s;  # BAD",
      qr/invalid parameter "every=30s", expected "interval=TIME" or "stale=TIME"/);
check("cluster zone=c:1m;\ncluster_heartbeat stale=1m stale=2m;  # BAD",
      qr/duplicate parameter "stale=2m"/);
check("cluster zone=c:1m;\ncluster_heartbeat interval=30s stale=10s;  # BAD",
      qr/"stale" \(10s\) must be longer than "interval" \(30s\)/);
check("cluster zone=c:1m;\ncluster_heartbeat stale=20s;  # BAD",
      qr/"stale" \(20s\) must be longer than "interval" \(30s\)/);
check("cluster zone=c:1m;\ncluster_eject stale sideways;  # BAD",
      qr/invalid value "sideways", expected "stale", "down", "key_mismatch", "version_skew", "service_down" or a single "off"/);
check("cluster zone=c:1m;\ncluster_eject off down;  # BAD",
      qr/invalid value "off"/);
check("cluster zone=c:1m;\ncluster_check uri=health;  # BAD",
      qr/invalid URI in "uri=health", expected a path that starts with "\/" and has no spaces/);
check("cluster zone=c:1m;\ncluster_check timeout=50ms;  # BAD",
      qr/invalid time in "timeout=50ms", expected a time of at least 100ms/);
check("cluster zone=c:1m;\ncluster_check rise=0;  # BAD",
      qr/invalid value in "rise=0", expected a number from 1 to 1000/);
check("cluster zone=c:1m;\ncluster_check fall=x;  # BAD",
      qr/invalid value in "fall=x", expected a number from 1 to 1000/);
check("cluster zone=c:1m;\ncluster_check messenger=70000;  # BAD",
      qr/invalid value in "messenger=70000", expected a number from 1 to 65535/);
check("cluster zone=c:1m;\ncluster_check expect=399-200;  # BAD",
      qr/invalid status range in "expect=399-200", expected "expect=200-399" or a single status, from 100 to 599/);
check("cluster zone=c:1m;\ncluster_check expect=2xx;  # BAD",
      qr/invalid status range in "expect=2xx"/);
check("cluster zone=c:1m;\ncluster_check interval=5s;  # BAD",
      qr/invalid parameter "interval=5s", expected "uri=", "timeout=", "rise=", "fall=", "messenger=", "expect=", "host=", "ssl", "ssl_name=", "ssl_verify=", "ssl_trusted_certificate=" or "mandatory"/);
check("cluster zone=c:1m;\ncluster_check;\ncluster_check;  # BAD",
      qr/"cluster_check" directive is duplicate/);
check("server unix:/tmp/x.sock;\ncluster zone=c:1m;  # BAD\ncluster_check messenger=33237;",
      qr/"cluster_check messenger=" cannot check the unix socket server "unix:\/tmp\/x\.sock" of upstream "proget"/);
check("cluster zone=c:1m;\ncluster_slow_start soon;  # BAD",
      qr/invalid time in "soon", expected a time of at least 0 and at most 1d \(0: none\)/);
check("cluster zone=c:1m;\ncluster_node_name 10.0.0.1:80 web1;  # BAD",
      qr/"cluster_node_name" names "10\.0\.0\.1:80", which is no server of upstream "proget"/);
check("cluster zone=c:1m;\ncluster_node_name 127.0.0.1:8001 a;\ncluster_node_name 127.0.0.1:8001 b;  # BAD",
      qr/duplicate "cluster_node_name" for the server "127\.0\.0\.1:8001"/);
check("cluster zone=c:1m;\ncluster_cookie name=(unclosed;  # BAD",
      qr/invalid regular expression in "name=\(unclosed"/);
check("cluster zone=c:1m;\ncluster_cookie login=^/log-in;  # BAD",
      qr/"cluster_cookie" needs "name=", a regular expression of the auth cookie's name/);
check("cluster zone=c:1m;\ncluster_cookie name=;  # BAD",
      qr/empty regular expression in "name="/);
check("cluster zone=c:1m;\ncluster_cookie cookie=x;  # BAD",
      qr/invalid parameter "cookie=x", expected "name=", "login=", "sessions=" or "probe="/);
check("cluster zone=c:1m;\ncluster_cookie name=a probe=/;  # BAD",
      qr/"cluster_cookie probe=" in upstream "proget" needs "cluster_check" in the same upstream/);
check("cluster zone=c:1m;\ncluster_cookie name=a probe=health;  # BAD",
      qr/invalid value "probe=health", expected "probe=" a path that starts with "\/", without spaces or controls/);
check("cluster zone=c:1m;\ncluster_cookie name=a sessions=8;  # BAD",
      qr/invalid value "sessions=8", expected "sessions=" a number from 16 to 1048576/);
check("cluster zone=c:1m;\ncluster_cookie name=a sessions=many;  # BAD",
      qr/invalid value "sessions=many"/);
# every time and number has a bound, said with it: none overflows later
check("cluster zone=c:1m;\ncluster_heartbeat interval=9223372036854775s stale=9223372036854775807ms;  # BAD",
      qr/invalid time in "interval=9223372036854775s", expected a time of at least 100ms and at most 1d/);
check("cluster zone=c:1m;\ncluster_heartbeat stale=9223372036854775807ms;  # BAD",
      qr/invalid time in "stale=9223372036854775807ms", expected a time of at least 100ms and at most 366d/);
check("cluster zone=c:1m;\ncluster_heartbeat interval=25h;  # BAD",
      qr/invalid time in "interval=25h", expected a time of at least 100ms and at most 1d/);
check("cluster zone=c:1m;\ncluster_heartbeat stale=367d;  # BAD",
      qr/invalid time in "stale=367d", expected a time of at least 100ms and at most 366d/);
check("cluster zone=c:1m;\ncluster_check timeout=9223372036854775s;  # BAD",
      qr/invalid time in "timeout=9223372036854775s", expected a time of at least 100ms and at most 1d/);
check("cluster zone=c:1m;\ncluster_slow_start 9223372036854775s;  # BAD",
      qr/invalid time in "9223372036854775s", expected a time of at least 0 and at most 1d \(0: none\)/);
check("cluster zone=c:1m;\ncluster_slow_start 2d;  # BAD",
      qr/invalid time in "2d", expected a time of at least 0 and at most 1d/);
check("cluster zone=c:1m;\ncluster_check rise=1001;  # BAD",
      qr/invalid value in "rise=1001", expected a number from 1 to 1000/);
check("cluster zone=c:1m;\ncluster_check fall=99999999999999999999;  # BAD",
      qr/invalid value in "fall=99999999999999999999", expected a number from 1 to 1000/);
check("cluster zone=c:1m;\ncluster_cookie name=a sessions=1048577;  # BAD",
      qr/invalid value "sessions=1048577", expected "sessions=" a number from 16 to 1048576/);
check("cluster zone=c:1m;\ncluster_check expect=200-99999999999999999999;  # BAD",
      qr/invalid status range in "expect=200-99999999999999999999"/);
check("cluster zone=c:1m;",
      qr/invalid time in "refresh=9223372036854775s", expected seconds such as 10s, at most a day/,
      "location /c { cluster_status refresh=9223372036854775s; }  # BAD\n");

# each parameter once; a name is never empty
check("cluster zone=c:1m;\ncluster_cookie name=a name=b;  # BAD",
      qr/duplicate parameter "name=b"/);
check("cluster zone=c:1m;\ncluster_cookie name=a sessions=16 login=x sessions=32;  # BAD",
      qr/duplicate parameter "sessions=32"/);
check("cluster zone=c:1m;\ncluster_node_name 127.0.0.1:8001 \"\";  # BAD",
      qr/invalid empty name, expected "cluster_node_name ADDRESS NAME"/);
check("cluster zone=c:1m;\ncluster_node_name \"\" web1;  # BAD",
      qr/invalid empty address, expected "cluster_node_name ADDRESS NAME"/);

check("cluster_heartbeat interval=1s;  # BAD",
      qr/"cluster_\*" directives in upstream "proget" need "cluster zone=NAME:SIZE"/);
check("cluster zone=c:1m;",
      qr/"cluster_status" directive is not allowed here/,
      "cluster_status;  # BAD\n");
check("cluster zone=c:1m;",
      qr/invalid parameter "on", expected "refresh=", "admin=on", "admin=off" or "token_file="/,
      "location /c { cluster_status on; }  # BAD\n");
check("cluster zone=c:1m;",
      qr/invalid time in "refresh=soon", expected seconds such as 10s, at most a day, or 0 for none/,
      "location /c { cluster_status refresh=soon; }  # BAD\n");
check("cluster zone=c:1m;",
      qr/"admin=on" needs a prefix location, such as "location \/cluster"/,
      "location = /c { cluster_status admin=on; }  # BAD\n");
check("cluster zone=c:1m;",
      qr/cannot open the token file "\S+\/missing"/,
      "location /c { cluster_status admin=on token_file=%%DIR%%/missing; }  # BAD\n");

for (['loose', 0644, 'a-long-enough-token-0123456789',
      qr/the token file "\S+\/loose" is readable or writable by others, expected a mode such as 0600 or 0640/],
     ['short', 0600, 'short',
      qr/the token in "\S+\/short" is too short, expected at least 16 characters/])
{
    my ($name, $mode, $text, $error) = @$_;
    open my $fh, '>', $t->dir . "/$name" or die;
    print $fh "$text\n";
    close $fh;
    chmod $mode, $t->dir . "/$name";

    check("cluster zone=c:1m;", $error,
          "location /c { cluster_status admin=on token_file=%%DIR%%/$name; }  # BAD\n");

    my ($rc, $out) = $t->test_config;
    unlike($out, qr/\Q$text\E/, "  and never shows the token") if $name eq 'loose';
}

open my $tf, '>', $t->dir . '/token' or die;
print $tf "a-long-enough-token-0123456789\n";
close $tf;
chmod 0600, $t->dir . '/token';

check("cluster zone=c:1m;",
      qr/"token_file=" goes with "admin=on"/,
      "location /c { cluster_status token_file=%%DIR%%/token; }  # BAD\n");
check("cluster zone=c:1m;",
      qr/"cluster_status" directive is duplicate/,
      "location /c { cluster_status; cluster_status; }  # BAD\n");

# and a good one passes
$t->write_config(<<'EOF');
    upstream proget {
        server 127.0.0.1:8001 weight=2 max_fails=0;
        server 127.0.0.1:8002 backup;
        server 127.0.0.1:8003 down;
        cluster zone=c:1m;
        cluster_heartbeat interval=30s stale=5m;
        cluster_eject stale down key_mismatch version_skew service_down;
        cluster_check uri=/health/json timeout=5s rise=2 fall=3
                      messenger=33237 expect=200-399 mandatory;
        cluster_slow_start 30s;
    }

    server {
        listen 127.0.0.1:%%PORT_http%%;
        location / { proxy_pass http://proget; }
        location /cluster { cluster_status; }
    }
EOF

my ($rc, $out) = $t->test_config;
is($rc, 0, 'a good configuration passes') or diag $out;

# every bound itself passes, and cluster_cookie takes all its parameters
$t->write_config(<<'EOF');
    upstream proget {
        server 127.0.0.1:8001;
        cluster zone=c:1m;
        cluster_heartbeat interval=1d stale=366d;
        cluster_check timeout=1d rise=1000 fall=1000;
        cluster_slow_start 1d;
        cluster_key file=%%DIR%%/key;
        cluster_cookie name=^\.ProGetAuth$ login=^/log-in sessions=1048576
                       probe=/feeds/;
    }

    server {
        listen 127.0.0.1:%%PORT_http%%;
        location / { proxy_pass http://proget; }
        location /cluster { cluster_status refresh=1d; }
    }
EOF

open my $kf, '>', $t->dir . '/key' or die;
print $kf "00112233445566778899aabbccddeeff\n";
close $kf;
chmod 0600, $t->dir . '/key';

($rc, $out) = $t->test_config;
is($rc, 0, 'the bounds themselves pass, and cluster_cookie with four')
    or diag $out;

# "cluster" judges, the method chooses: any method, and keepalive, before
# or after it, with no warning
for my $method ('least_conn;', 'hash $request_uri consistent;', 'ip_hash;',
                'random two;', 'keepalive 16;', "least_conn;\nkeepalive 8;")
{
    for my $order ('before', 'after') {
        my $body = $order eq 'before' ? "$method\ncluster zone=c:1m;"
                                      : "cluster zone=c:1m;\n$method";
        $t->write_config(<<"EOF");
    upstream proget {
        server 127.0.0.1:8001;
        server 127.0.0.1:8002;
$body
    }

    server {
        listen 127.0.0.1:%%PORT_http%%;
        location / { proxy_pass http://proget; }
    }
EOF

        ($rc, $out) = $t->test_config;
        (my $name = $method) =~ s/\n/ /g;
        is($rc, 0, "$name $order \"cluster\" passes") or diag $out;
        unlike($out, qr/redefined/, '  with no warning');
    }
}

done_testing;
