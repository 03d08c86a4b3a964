#!/usr/bin/perl

# The harness sees what a test alone would miss: a worker that dies, which
# nginx logs only at "notice", and a sanitizer's report in the error log,
# where a worker's lands.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use ClusterTest;

my $t = ClusterTest->new(workers => 1);

$t->write_config(<<'EOF');
    upstream proget {
        server 127.0.0.1:%%PORT_w1%%;
        cluster zone=harness:1m;
    }

    server {
        listen 127.0.0.1:%%PORT_http%%;
        location / { proxy_pass http://proget; }
    }
EOF

$t->sim('w1');
$t->run;

is(scalar $t->problems, 0, 'a clean start shows nothing');

# a worker killed, as a crash would end it

my ($worker) = $t->read_file('error.log') =~ /start worker process (\d+)/;
ok($worker, 'the worker is in the log');

kill 'KILL', $worker;

ok($t->wait_log(qr/worker process $worker exited on signal 9/),
   'nginx says the worker died');

my @problems = $t->problems;
is(scalar @problems, 1, 'the dead worker is a problem');
like($problems[0] // '', qr/exited on signal 9/, '  the line that says so');

# nginx starts another; the test may say a death was its own doing

ok($t->wait_for(sub { $t->get('/')->{status} == 200 }),
   'nginx serves again with a new worker');

$t->allow_log(qr/worker process $worker exited on signal 9/);
is(scalar $t->problems, 0, 'a death the test caused is not a problem');

# a report in the error log, as a worker's sanitizer leaves it

open my $fh, '>>', $t->dir . '/error.log' or die "error.log: $!";
print $fh "module.c:1:1: runtime error: signed integer overflow\n";
close $fh;

like(join("\n", $t->problems), qr/runtime error: signed integer overflow/,
     'a sanitizer report in the error log is a problem');

$t->stop;

done_testing;
