#!/usr/bin/perl

# The simulator's own command line: --help is an answer, not a mistake;
# every option takes its value as "--port N" or "--port=N"; a wrong command
# line (an unknown option, one without its value, a port out of range)
# exits 2 with a word on what was wrong, before anything listens.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(sleep time);
use ClusterTest qw(http_get);

my $t = ClusterTest->new;
my $runs = 0;

# starts the simulator with @args, its output in files of the test's: the
# pid, and the names of those files
sub start {
    my (@args) = @_;

    my $out = $t->dir . '/run-' . ++$runs;
    my $pid = fork // die "fork: $!";

    if ($pid == 0) {
        open STDOUT, '>', "$out.stdout";
        open STDERR, '>', "$out.stderr";
        exec $ENV{CLUSTER_SIM}, @args;
        die "exec: $!";
    }

    return ($pid, "$out.stdout", "$out.stderr");
}

# waits up to $timeout seconds for the process to end: its exit code, or
# undef when it had to be killed (it went on to serve: it took the line)
sub reap {
    my ($pid, $timeout) = @_;

    my $until = time + ($timeout // 5);

    while (time < $until) {
        return $? >> 8 if waitpid($pid, WNOHANG) == $pid;
        sleep 0.05;
    }

    kill 'KILL', $pid;
    waitpid($pid, 0);

    return undef;
}

sub slurp {
    my ($file) = @_;

    open my $fh, '<', $file or return '';
    local $/;
    return scalar(<$fh>) // '';
}

# runs the simulator to its end: (exit code, stdout, stderr)
sub run_sim {
    my ($pid, $stdout, $stderr) = start(@_);
    my $rc = reap($pid);

    return ($rc, slurp($stdout), slurp($stderr));
}

# --help: the usage, on stdout, and success
my ($rc, $stdout, $stderr) = run_sim('--help');
is($rc, 0, '--help exits 0');
like($stdout, qr/^usage: cluster-sim .*--port PORT/s,
     'with the usage on stdout, naming --port');
is($stderr, '', 'and nothing on stderr');

# mistakes: the usage or a word on the value, on stderr, and exit 2
($rc, $stdout, $stderr) = run_sim('--bogus', '1');
is($rc, 2, 'an unknown option exits 2');
like($stderr, qr/--bogus.*\n.*usage: cluster-sim/s,
     'naming it, with the usage on stderr');
is($stdout, '', 'and nothing on stdout');

($rc, undef, $stderr) = run_sim('--name', 'w1', '--port');
is($rc, 2, 'an option without its value exits 2');
like($stderr, qr/--port.*\n.*usage: cluster-sim/s,
     'naming it, with the usage');

($rc, undef, $stderr) = run_sim('--name', 'w1');
is($rc, 2, 'no --port exits 2');
like($stderr, qr/--port is required/, 'saying it is required');

for my $case (['--port=0'], ['--port', '0'], ['--port=65536'],
              ['--port=-1'], ['--port=80x'], ['--port='],
              ['--port=8001', '--messenger=0'])
{
    ($rc, undef, $stderr) = run_sim(@$case);
    is($rc, 2, "@$case exits 2");
    like($stderr, qr/takes a number from 1 to 65535/, 'saying why');
}

($rc, undef, $stderr) = run_sim('--port=8001', '--health=json2024');
is($rc, 2, 'an unknown kind of health answer exits 2');

# "--name=w1 --port=N": the "=" form, for options with a word and a number
my $port = $t->port('w1');
my ($pid, undef, $err) = start('--name=w1', "--port=$port",
                               '--listen=127.0.0.1', '--version=23.0.31',
                               '--health=buildmaster', '--service=error');

ok($t->wait_port("127.0.0.1:$port"), "started with --port=$port");

my $r = http_get("127.0.0.1:$port", '/health');
is($r->{status}, 500,
   '/health answers, with the service down (--service=error)');
is($r->{headers}{'x-node'}, 'w1', 'as the node of --name=w1');
like($r->{body}, qr/"applicationName":"BuildMaster"/,
     'in BuildMaster\'s shape (--health=buildmaster)');
like($r->{body}, qr/"releaseNumber":"23\.0\.31"/, 'of --version=23.0.31');

kill 'TERM', $pid;
is(reap($pid), 0, 'and it ends on TERM, cleanly');
unlike(slurp($err), qr/runtime error|AddressSanitizer|LeakSanitizer/,
       'with no sanitizer report');

# "--name w1 --port N", as the harness starts it
$t->sim('w2');
$r = http_get($t->port('w2'), '/health');
is($r->{status}, 200, 'the harness\'s "--name w2 --port N" form answers');
is($r->{headers}{'x-node'}, 'w2', 'as w2');
$t->stop_sim('w2');

$t->check_logs;

done_testing;
