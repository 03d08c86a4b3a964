#!/usr/bin/perl

# Each bad "cluster_database" fails "nginx -t" with the file, the line and
# what was expected; none of its messages shows the password.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use ClusterTest;

my $t = ClusterTest->new;

my $password = 'the-secret-password-' . int(rand(1e9));
$t->secret('db.pass', $password);

open my $fh, '>', $t->dir . '/open.pass' or die;
print $fh "$password\n";
close $fh;
chmod 0644, $t->dir . '/open.pass';

open $fh, '>', $t->dir . '/empty.pass' or die;
close $fh;
chmod 0600, $t->dir . '/empty.pass';

# the line marked BAD is the one nginx must point at
sub check {
    my ($database, $error) = @_;

    my $file = $t->write_config(<<"EOF");
    $database

    upstream proget {
        server 127.0.0.1:8001;
        cluster zone=c:1m;
    }

    server {
        listen 127.0.0.1:%%PORT_http%%;
        location / { proxy_pass http://proget; }
    }
EOF

    my @lines = split /\n/, $t->read_file('nginx.conf');
    my ($line) = grep { $lines[$_ - 1] =~ /# BAD/ } 1 .. @lines;

    my ($rc, $out) = $t->test_config;

    my ($what) = $database =~ /(\S.*?)\s*# BAD/s;

    isnt($rc, 0, "nginx -t fails: $what");
    like($out, qr/$error/, "  says what is wrong") or diag $out;
    like($out, qr/\Q$file\E:$line\b/, "  at the right file and line")
        or diag $out;
    unlike($out, qr/\Q$password\E/, "  and shows no password");
}

my $ok = '"host=127.0.0.1 port=5432 dbname=lb user=lb"';

check(qq{cluster_database $ok schema=Bad;  # BAD},
      qr/invalid value "schema=Bad", expected "schema=" a name of lower-case/);
check(qq{cluster_database $ok schema=x;y;  # BAD},
      qr/unknown directive "y"|invalid value/);
check(qq{cluster_database $ok retention=10m;  # BAD},
      qr/invalid value "retention=10m", expected "retention=" a time of at least 1h/);
check(qq{cluster_database $ok retention=lots;  # BAD},
      qr/invalid value "retention=lots"/);
check(qq{cluster_database $ok instance=;  # BAD},
      qr/invalid value "instance=", expected "instance=" a name of 1 to 63/);
check(qq{cluster_database $ok speed=9;  # BAD},
      qr/invalid parameter "speed=9", expected "password_file=", "instance="/);
check(qq{cluster_database $ok instance=a instance=b;  # BAD},
      qr/duplicate parameter "instance=b"/);
check(qq{cluster_database $ok;\ncluster_database $ok;  # BAD},
      qr/"cluster_database" directive is duplicate/);
check(qq{cluster_database "";  # BAD},
      qr/"cluster_database" needs a connection string/);
check(qq{cluster_database "host=127.0.0.1 nonsense";  # BAD},
      qr/invalid connection string of "cluster_database"/);
check(qq{cluster_database "postgresql://lb:$password%zz\@127.0.0.1/lb";  # BAD},
      qr/libpq cannot parse it \(its reason is not shown/);
check(qq{cluster_database "service=lb dbname=lb";  # BAD},
      qr/cannot take "service=": give host= \(an address\) and port= instead/);
check(qq{cluster_database "host=a.example,b.example hostaddr=127.0.0.1,";  # BAD},
      qr/has an empty entry in hostaddr=/);
check(qq{cluster_database "host=db.example.org dbname=lb";  # BAD},
      qr/names the host "db\.example\.org", which libpq would look up in DNS/);
check(qq{cluster_database "postgresql://db.example.org/lb";  # BAD},
      qr/names the host "db\.example\.org"/);
check(qq{cluster_database "host=127.0.0.1,db2.example.org dbname=lb";  # BAD},
      qr/names the host "db2\.example\.org"/);
check(qq{cluster_database $ok password_file=%%DIR%%/missing.pass;  # BAD},
      qr/cannot open the password file ".*missing\.pass"/);
check(qq{cluster_database $ok password_file=%%DIR%%/open.pass;  # BAD},
      qr/the password file ".*open\.pass" is readable or writable by others/);
check(qq{cluster_database $ok password_file=%%DIR%%/empty.pass;  # BAD},
      qr/the password file ".*empty\.pass" is empty/);
check(qq{upstream x { server 127.0.0.1:1; cluster_database $ok;  # BAD\n}},
      qr/"cluster_database" directive is not allowed here/);

# what is accepted: a name beside its address, a socket's folder, IPv6
for my $good ('"host=db.example.org hostaddr=127.0.0.1 dbname=lb"',
              '"host=/var/run/postgresql dbname=lb"',
              '"postgresql://[::1]:5432/lb"',
              "$ok password_file=%%DIR%%/db.pass instance=lb1 "
              . "schema=lbs retention=7d") {
    $t->write_config(<<"EOF");
    cluster_database $good;
    upstream proget { server 127.0.0.1:8001; cluster zone=c:1m; }
    server { listen 127.0.0.1:%%PORT_http%%; location / { proxy_pass http://proget; } }
EOF
    my ($rc, $out) = $t->test_config;
    is($rc, 0, "accepted: $good") or diag $out;
}

done_testing();
