package ClusterHAProxy;

# The harness of the HAProxy bridge's tests: ClusterTest's folder, ports,
# simulated nodes and HTTP, with Debian's haproxy in nginx's place, the
# bridge (cluster.lua and its C module) loaded with lua-load, and its file
# of cluster directives beside haproxy.cfg.

use strict;
use warnings;

use parent 'ClusterTest';

use IO::Socket::UNIX;
use POSIX qw(:sys_wait_h);
use Test::More;
use Time::HiRes qw(sleep time);

sub new {
    my ($class, %opts) = @_;

    plan(skip_all => 'CLUSTER_BRIDGE is not set: run the tests with '
                     . "'make test'") unless $ENV{CLUSTER_BRIDGE};
    plan(skip_all => 'no haproxy') unless -x '/usr/sbin/haproxy';

    my $self = $class->SUPER::new(%opts);
    $self->{haproxy} = undef;

    return $self;
}

# Writes haproxy.cfg around the test's sections and cluster.conf with the
# bridge's directives; %%PORT_name%% and %%DIR%% as in write_config.
sub write_haproxy {
    my ($self, $sections, $cluster, %opts) = @_;

    my $dir = $self->dir;

    for ($sections, $cluster) {
        s/%%PORT_(\w+)%%/$self->port($1)/ge;
        s/%%DIR%%/$dir/g;
    }

    my $threads = $opts{threads} // 2;
    my $load = $opts{per_thread} ? 'lua-load-per-thread' : 'lua-load';

    my $cfg = join "\n",
        "global",
        "    setenv CLUSTER_CONF $dir/cluster.conf",
        "    $load $ENV{CLUSTER_BRIDGE}",
        "    nbthread $threads",
        "    stats socket $dir/haproxy.sock level admin",
        "    pidfile $dir/haproxy.pid",
        "",
        "defaults",
        "    mode http",
        "    timeout connect 1s",
        "    timeout client 10s",
        "    timeout server 10s",
        "",
        $sections,
        "";

    open my $fh, '>', "$dir/haproxy.cfg" or die "haproxy.cfg: $!";
    print $fh $cfg;
    close $fh;

    open $fh, '>', "$dir/cluster.conf" or die "cluster.conf: $!";
    print $fh $cluster;
    close $fh;

    return "$dir/haproxy.cfg";
}

# haproxy -c on the current files: (exit code, what haproxy said)
sub test_haproxy {
    my ($self) = @_;

    my %env = $self->_env('haproxy');
    local @ENV{keys %env} = values %env;

    my $dir = $self->dir;
    my $out = `/usr/sbin/haproxy -c -f $dir/haproxy.cfg 2>&1`;

    return ($? >> 8, $out);
}

# Starts haproxy in the foreground; "replace": as a reload does, the new
# process takes over from the running one (-sf), which finishes.
sub run_haproxy {
    my ($self, %opts) = @_;

    my $dir = $self->dir;
    my %env = $self->_env('haproxy');
    my $old = $self->{haproxy};

    my $pid = fork // die "fork: $!";

    if ($pid == 0) {
        @ENV{keys %env} = values %env;
        open STDOUT, '>>', "$dir/haproxy.log";
        open STDERR, '>>', "$dir/haproxy.log";
        exec '/usr/sbin/haproxy', '-db', '-f', "$dir/haproxy.cfg",
             ($old ? ('-sf', $old) : ());
        die "exec: $!";
    }

    $self->{haproxy} = $pid;

    if ($old) {
        # the old process finishes its connections and goes
        my $until = time + 10;
        while (time < $until) {
            last if waitpid($old, WNOHANG) == $old;
            sleep 0.05;
        }
    }

    $self->wait_port($opts{port} // $self->port('http'))
        or die "haproxy did not start:\n" . $self->read_file('haproxy.log');

    return $self;
}

sub stop {
    my ($self) = @_;

    if (my $pid = delete $self->{haproxy}) {
        kill 'USR1', $pid;    # a soft stop

        my $until = time + 10;
        while (time < $until) {
            last if waitpid($pid, WNOHANG) == $pid;
            sleep 0.05;
        }

        if (kill 0, $pid) {
            kill 'KILL', $pid;
            waitpid($pid, 0);
        }
    }

    $self->SUPER::stop;
}

# a command on HAProxy's CLI (the stats socket), and its answer
sub cli {
    my ($self, $command) = @_;

    my $s = IO::Socket::UNIX->new(Peer => $self->dir . '/haproxy.sock')
        or die "stats socket: $!";
    print $s "$command\n";
    local $/;
    my $answer = <$s>;
    close $s;

    return $answer;
}

# one server's field of HAProxy's own "show stat" (status, weight, ...)
sub haproxy_stat {
    my ($self, $backend, $server, $field) = @_;

    my @lines = split /\n/, $self->cli('show stat');
    my @names = split /,/, shift(@lines) =~ s/^# //r;

    for (@lines) {
        my @v = split /,/, $_, -1;
        next unless $v[0] eq $backend && $v[1] eq $server;
        my %row;
        @row{@names} = @v;
        return $row{$field};
    }

    return undef;
}

# What went wrong in haproxy: its alerts, a Lua error, a sanitizer's
# report, less what the test said to expect with allow_log().
sub problems {
    my ($self) = @_;

    my $bad = qr/\[ALERT\]|\[alert\]|Lua (?:function|task|applet|sample)
                 |runtime\ error|AddressSanitizer|LeakSanitizer
                 |stack\ traceback/x;

    my @lines = grep { /$bad/ } split /\n/, $self->read_file('haproxy.log');

    for my $f (glob $self->dir . '/san/*') {
        open my $fh, '<', $f or next;
        local $/;
        my $report = <$fh>;
        push @lines, "$f: $1" if $report =~ /(\S.*)/;
    }

    return grep {
        my $line = $_;
        !grep { $line =~ $_ } @{$self->{allow}}
    } @lines;
}

sub check_logs {
    my ($self) = @_;

    is(join("\n", $self->problems), '',
       'no alert, Lua error or sanitizer report in haproxy\'s log');
}

sub DESTROY {
    my ($self) = @_;
    $self->stop;
    $self->stop_sim($_) for keys %{$self->{sims}};
}

1;
