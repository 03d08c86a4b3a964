#!/usr/bin/perl

# A zone too small for every node: said once at alert, the nodes it has no
# room for are balanced by plain round robin, and nothing fails.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use ClusterTest;

my $t = ClusterTest->new(workers => 2);

my $n = 300;
my @addrs = map { '127.0.' . int($_ / 200) . '.' . ($_ % 200 + 2) } 1 .. $n;
my $servers = join "\n",
    map { "        server $_:%%PORT_backend%%;" } @addrs;
my $listens = join "\n",
    map { "        listen $_:%%PORT_backend%%;" } @addrs;

$t->write_config(<<"EOF");
    upstream big {
$servers

        cluster zone=tiny:32k;
    }

    server {
$listens

        location / {
            return 200 "backend \$server_addr\\n";
        }
    }

    server {
        listen 127.0.0.1:%%PORT_http%%;

        location / {
            proxy_pass http://big;
        }

        location /cluster {
            cluster_status;
        }
    }
EOF

$t->allow_log(qr/\[alert\].*cluster zone "tiny" is full/);

$t->run;

my $full = $t->count_log(qr/\[alert\].*cluster zone "tiny" is full: (\d+) of 300 nodes of upstream "big" are not tracked/);
is($full, 1, 'a full zone is said once, at alert');

my %status;
$status{$t->get('/')->{status}}++ for 1 .. 2 * $n;
is_deeply(\%status, { 200 => 2 * $n }, 'every request is served');

my $c = $t->cluster('big');
is($c->{settings}{servers}, $n, 'every server is listed');

my @tracked = grep { $_->{tracked} } @{$c->{nodes}};
my @untracked = grep { !$_->{tracked} } @{$c->{nodes}};

ok(@tracked > 0 && @untracked > 0, 'some nodes tracked, the rest not')
    or diag scalar(@tracked) . " tracked";
ok(!grep({ $_->{web}{requests} == 0 } @tracked),
   'the tracked nodes record their traffic');
ok(!grep({ !$_->{in_rotation} } @untracked), 'the others stay in rotation');

$t->check_logs;

done_testing;
