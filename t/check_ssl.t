#!/usr/bin/perl

# cluster_check ssl: checks of HTTPS nodes on nginx's own SSL layer and
# event loop.  Three nodes behind TLS (nginx terminating it in front of
# simulators, certificates made here by openssl): one with a good
# certificate, one expired, one for another name; with ssl_verify=on only
# the good one is up, the others down with the reason; without, all up; a
# node that speaks no TLS fails the handshake.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use ClusterTest;

my $t = ClusterTest->new(workers => 1);
my $dir = $t->dir;

sub openssl {
    my ($args) = @_;
    my $out = `cd $dir && openssl $args 2>&1`;
    die "openssl $args: $out" if $?;
}

# a CA of the test's, and three certificates: good, expired, another name.
# The expired one is signed by "openssl ca" with dates in the past: x509
# -days -1 made it until OpenSSL 3.5, which refuses an end before the start.
openssl('req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem '
        . '-days 2 -subj /CN=cluster-test-ca');
{
    open my $fh, '>', "$dir/ca.cnf" or die "ca.cnf: $!";
    print $fh <<'CNF';
[ ca ]
default_ca = test_ca
[ test_ca ]
database = index.txt
new_certs_dir = .
certificate = ca.pem
private_key = ca.key
serial = ca.serial
default_md = sha256
policy = any
[ any ]
commonName = supplied
CNF
    close $fh;
    open $fh, '>', "$dir/index.txt" or die "index.txt: $!";
    close $fh;
    open $fh, '>', "$dir/ca.serial" or die "ca.serial: $!";
    print $fh "1000\n";
    close $fh;
}

sub asn1_time {
    my @t = gmtime(shift);
    return sprintf '%04d%02d%02d%02d%02d%02dZ',
        $t[5] + 1900, $t[4] + 1, @t[3, 2, 1, 0];
}

for my $c ([ 'good', 'node.test', 2 ], [ 'expired', 'node.test', -1 ],
           [ 'other', 'other.test', 2 ])
{
    my ($name, $cn, $days) = @$c;
    open my $fh, '>', "$dir/$name.ext" or die;
    print $fh "subjectAltName=DNS:$cn\n";
    close $fh;
    openssl("req -newkey rsa:2048 -nodes -keyout $name.key -out $name.csr "
            . "-subj /CN=$cn");
    if ($days < 0) {
        # valid from two days ago to yesterday
        openssl("ca -batch -config ca.cnf -notext -in $name.csr "
                . "-out $name.pem -extfile $name.ext "
                . '-startdate ' . asn1_time(time - 2 * 86400)
                . ' -enddate ' . asn1_time(time - 86400));
        next;
    }
    openssl("x509 -req -in $name.csr -CA ca.pem -CAkey ca.key "
            . "-CAcreateserial -out $name.pem -days $days -extfile $name.ext");
}
chmod 0644, glob "$dir/*.key";

$t->sim($_) for qw(web1 web2 web3 web4);

my $tls = '';
for my $c ([ 'good', 'web1' ], [ 'expired', 'web2' ], [ 'other', 'web3' ]) {
    my ($name, $web) = @$c;
    $tls .= <<"EOF";
    server {
        listen 127.0.0.1:%%PORT_tls_$name%% ssl;
        ssl_certificate $dir/$name.pem;
        ssl_certificate_key $dir/$name.key;
        location / {
            proxy_pass http://127.0.0.1:%%PORT_$web%%;
            proxy_set_header Host \$http_host;
        }
    }
EOF
}

# a node that speaks plain HTTP where TLS is expected
$tls .= <<"EOF";
    server {
        listen 127.0.0.1:%%PORT_plain%%;
        location / { proxy_pass http://127.0.0.1:%%PORT_web4%%; }
    }
EOF

$t->write_config(<<"EOF");
$tls
    upstream verified {
        server 127.0.0.1:%%PORT_tls_good%%;
        server 127.0.0.1:%%PORT_tls_expired%%;
        server 127.0.0.1:%%PORT_tls_other%%;
        server 127.0.0.1:%%PORT_plain%%;

        cluster zone=verified:1m;
        cluster_heartbeat interval=500ms stale=1m;
        cluster_check uri=/health rise=1 fall=1 timeout=2s ssl
                      ssl_verify=on ssl_trusted_certificate=$dir/ca.pem
                      ssl_name=node.test;
    }

    upstream unverified {
        server 127.0.0.1:%%PORT_tls_good%%;
        server 127.0.0.1:%%PORT_tls_expired%%;
        server 127.0.0.1:%%PORT_tls_other%%;

        cluster zone=unverified:1m;
        cluster_heartbeat interval=500ms stale=1m;
        cluster_check uri=/health rise=1 fall=1 ssl;
    }

    server {
        listen 127.0.0.1:%%PORT_http%%;
        location /cluster { cluster_status; }
    }
EOF

$t->run;

my %addr = map { $_ => '127.0.0.1:' . $t->port($_) }
           qw(tls_good tls_expired tls_other plain);

sub node { $t->node($_[0], $addr{$_[1]}) }

ok($t->wait_for(sub {
       !grep { !$_->{health}{last_check} }
           map { @{$t->cluster($_)->{nodes}} } qw(verified unverified);
   }, 8), 'every node checked');

my $n = node('verified', 'tls_good');
is($n->{state}, 'up', 'a good certificate: up');
is($n->{health}{status_code}, 200, 'its /health read over TLS');
is($t->sim_stats('web1')->{health_host}, $addr{tls_good},
   'through the node\'s TLS, with its Host');

$n = node('verified', 'tls_expired');
is($n->{state}, 'down', 'an expired certificate: down');
like($n->{health}{reason}, qr/^certificate: certificate has expired/,
     'saying so');

$n = node('verified', 'tls_other');
is($n->{state}, 'down', 'a certificate for another name: down');
like($n->{health}{reason}, qr/^certificate is not for "node\.test"/,
     'saying so');

$n = node('verified', 'plain');
is($n->{state}, 'down', 'a node that speaks no TLS: down');
like($n->{health}{reason}, qr/TLS handshake failed/, 'the handshake failed');

for my $web (qw(tls_good tls_expired tls_other)) {
    is(node('unverified', $web)->{state}, 'up',
       "without ssl_verify: $web up");
}

# the HAProxy bridge: "ssl" on HAProxy's own TLS sockets, no verification
SKIP: {
    skip 'no HAProxy bridge', 5 unless $ENV{CLUSTER_BRIDGE};

    require ClusterHAProxy;
    my $h = ClusterHAProxy->new;

    $h->write_haproxy(<<"HAPROXY", <<"CLUSTER");
frontend web
    bind 127.0.0.1:%%PORT_http%%
    http-request use-service lua.cluster_status if { path_beg /cluster }
    default_backend proget

backend proget
    server good $addr{tls_good}
    server plain $addr{plain}
HAPROXY
backend proget {
    cluster_heartbeat interval=500ms stale=1m;
    cluster_check uri=/health rise=1 fall=1 timeout=2s ssl;
}
CLUSTER

    $h->run_haproxy;

    ok($h->wait_for(sub {
           !grep { !$_->{health}{last_check} } @{$h->cluster('proget')->{nodes}}
       }, 8), 'the bridge checked both over TLS');
    is($h->node('proget', $addr{tls_good})->{state}, 'up',
       'the bridge: the TLS node up');
    is($h->node('proget', $addr{plain})->{state}, 'down',
       'the plain one down');
    $h->check_logs;
    $h->stop;

    $h->write_haproxy("frontend web\n    bind 127.0.0.1:%%PORT_http%%\n",
                      "backend proget {\n    cluster_check ssl "
                      . "ssl_verify=on ssl_trusted_certificate=$dir/ca.pem;\n}\n");
    my ($rc, $out) = $h->test_haproxy;
    like($out, qr/"ssl_verify=" and "ssl_name=" are not in the bridge/,
         'the bridge says plainly it does not verify');
}

$t->allow_log(qr/SSL_do_handshake\(\) failed|wrong version number|packet length too long|http request/);
$t->check_logs;
$t->stop;

# what nginx -t says of the parameters that go together
for my $case (
    [ 'ssl_verify=on', qr/"ssl_name=", "ssl_verify=" and "ssl_trusted_certificate=" go with "ssl"/ ],
    [ 'ssl ssl_verify=on', qr/"ssl_verify=on" needs "ssl_trusted_certificate="/ ],
    [ 'ssl ssl_name=a/b', qr/invalid value "ssl_name=a\/b", expected "ssl_name=" a host name/ ],
    [ "ssl ssl_verify=on ssl_trusted_certificate=$dir/missing.pem",
      qr/missing\.pem/ ],
) {
    my ($params, $expect) = @$case;
    $t->write_config(<<"EOF");
    upstream u {
        server 127.0.0.1:1;
        cluster zone=u:1m;
        cluster_check $params;
    }
EOF
    my ($rc, $out) = $t->test_config;
    isnt($rc, 0, "nginx -t refuses: $params");
    like($out, $expect, '  saying what was expected');
}

done_testing;
