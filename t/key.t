#!/usr/bin/perl

# cluster_key: Inedo's EncryptionKey from a file, an environment variable
# (or its _FILE variant), or an Inedo XML configuration; the status shows
# only its fingerprint, and the key itself appears in no log, page or
# message, even when it is refused.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use ClusterTest;

my $t = ClusterTest->new(workers => 1);

# the key of the first known-answer vector, whose fingerprint is bb4aac79
my $key = '00112233445566778899AABBCCDDEEFF';
my $dir = $t->dir;

sub put {
    my ($name, $text, $mode) = @_;
    open my $fh, '>', "$dir/$name" or die;
    print $fh $text;
    close $fh;
    chmod $mode // 0600, "$dir/$name";
}

put('key', "$key\n");
put('key2', "  $key  \r\n");
put('ProGet.config', <<"XML");
<?xml version="1.0" encoding="utf-8"?>
<InedoAppConfig>
  <ConnectionString>Data Source=db; Initial Catalog=ProGet</ConnectionString>
  <!-- the old one: <EncryptionKey>ffeeddccbbaa99887766554433221100</EncryptionKey> -->
  <EncryptionKey>$key</EncryptionKey>
  <WebServer Enabled="true" Urls="http://*:8624/"/>
</InedoAppConfig>
XML

$ENV{TEST_CLUSTER_KEY} = lc $key;
$ENV{TEST_CLUSTER_KEY2_FILE} = "$dir/key2";
delete $ENV{TEST_CLUSTER_KEY2};

$t->sim('web1');

$t->write_config(<<'EOF');
    upstream from_file {
        server 127.0.0.1:%%PORT_web1%%;
        cluster zone=a:1m;
        cluster_key file=%%DIR%%/key;
    }

    upstream from_env {
        server 127.0.0.1:%%PORT_web1%%;
        cluster zone=a:1m;
        cluster_key env=TEST_CLUSTER_KEY;
    }

    upstream from_env_file {
        server 127.0.0.1:%%PORT_web1%%;
        cluster zone=a:1m;
        cluster_key env=TEST_CLUSTER_KEY2;
    }

    upstream from_inedo {
        server 127.0.0.1:%%PORT_web1%%;
        cluster zone=a:1m;
        cluster_key inedo_config=%%DIR%%/ProGet.config;
    }

    upstream without {
        server 127.0.0.1:%%PORT_web1%%;
        cluster zone=a:1m;
    }

    server {
        listen 127.0.0.1:%%PORT_http%%;

        location / {
            proxy_pass http://from_file;
        }

        location /cluster {
            cluster_status;
        }
    }
EOF

$t->run;

for my $c (qw(from_file from_env from_env_file from_inedo)) {
    is($t->cluster($c)->{key_fingerprint}, 'bb4aac79',
       "$c: the key's fingerprint");
}

is($t->cluster('without')->{key_fingerprint}, undef, 'none without a key');

my $page = $t->get('/cluster?format=html')->{body};
like($page, qr{<dt>Encryption key</dt><dd>fingerprint bb4aac79</dd>},
     'the page shows the fingerprint');

my $everything = join '', $page, $t->get('/cluster')->{body},
    $t->get('/cluster?format=prometheus')->{body},
    $t->read_file('error.log'), $t->read_file('stderr.log');
unlike($everything, qr/$key/i, 'the key is in no page, document or log');

$t->stop;

# refused keys, and the key never in the message
sub refused {
    my ($directive, $error, $what) = @_;

    $t->write_config(<<"EOF");
    upstream proget {
        server 127.0.0.1:8001;
        cluster zone=b:1m;
        $directive
    }

    server {
        listen 127.0.0.1:%%PORT_http%%;
        location / { proxy_pass http://proget; }
    }
EOF

    my ($rc, $out) = $t->test_config;
    isnt($rc, 0, "$what: nginx -t fails");
    like($out, $error, "  saying so") or diag $out;
    unlike($out, qr/$key|not-the-key-but-secret/i, '  without the key');
}

put('loose', "$key\n", 0644);
put('bad', "not-the-key-but-secret-words\n");
put('short', substr($key, 0, 30) . "\n");
put('Other.config', "<InedoAppConfig><EncryptionKey>xyz</EncryptionKey></InedoAppConfig>");

refused("cluster_key file=$dir/missing;",
        qr/cannot open the key file ".*missing"/, 'a missing file');
refused("cluster_key file=$dir/loose;",
        qr/the key file ".*loose" is readable or writable by others, expected a mode such as 0600 or 0640/,
        'a file others may read');
refused("cluster_key file=$dir/bad;",
        qr/the key from ".*bad" is not an EncryptionKey, expected 32 hex digits/,
        'a malformed key');
refused("cluster_key file=$dir/short;",
        qr/is not an EncryptionKey, expected 32 hex digits/, 'a short key');
refused("cluster_key env=TEST_CLUSTER_NO_SUCH_KEY;",
        qr/the environment variable "TEST_CLUSTER_NO_SUCH_KEY" is not set, nor "TEST_CLUSTER_NO_SUCH_KEY_FILE"/,
        'an unset variable');
refused("cluster_key inedo_config=$dir/Other.config;",
        qr/no <EncryptionKey> element of 32 hex digits in ".*Other\.config"/,
        'a configuration without the key');
refused("cluster_key file=$dir/key;\n        cluster_key file=$dir/key;",
        qr/"cluster_key" directive is duplicate/, 'twice');
refused("cluster_key $dir/key;",
        qr/invalid parameter ".*key", expected "file=", "env=" or "inedo_config="/,
        'no source named');

$t->check_logs;

done_testing;
