package ClusterPostgres;

# A real PostgreSQL for a test: Debian's, in a folder of its own, on a
# loopback port, started and stopped by the test.  PostgreSQL refuses to
# run as root: as root, it runs as the "postgres" user.  Host connections
# need a password (scram-sha-256); the test's own statements go through the
# folder's unix socket as the superuser.

use strict;
use warnings;

use File::Temp qw(tempdir);
use IO::Socket::INET;
use Test::More;

my @servers;

sub bin {
    my ($name) = @_;
    my ($dir) = reverse sort glob('/usr/lib/postgresql/*/bin');
    return $dir ? "$dir/$name" : undef;
}

sub new {
    my ($class) = @_;

    my $initdb = bin('initdb');
    plan(skip_all => 'PostgreSQL is not installed: run make test')
        unless $initdb && -x $initdb;

    my $dir = tempdir('cluster-pg-XXXXXX', TMPDIR => 1,
                      CLEANUP => !$ENV{TEST_KEEP});
    chmod 0755, $dir;

    my $self = bless { dir => $dir, port => free_port(), running => 0 },
                     $class;

    if ($> == 0) {
        my (undef, undef, $uid, $gid) = getpwnam('postgres')
            or die "no postgres user";
        chown $uid, $gid, $dir;
        $self->{as} = 'postgres';
    }

    # the superuser's password is never used: local connections trust
    $self->run_as($initdb, '-D', "$dir/data", '-U', 'postgres',
                  '--auth-local=trust', '--auth-host=scram-sha-256',
                  '-E', 'UTF8', '--locale=C')
        or die "initdb failed: " . $self->read('initdb.log');

    push @servers, $self;

    $self->start;

    return $self;
}

sub dir { $_[0]{dir} }
sub port { $_[0]{port} }

sub free_port {
    for (1 .. 1000) {
        my $port = 10000 + int(rand(22000));
        my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                      LocalPort => $port, Proto => 'tcp',
                                      Listen => 1, ReuseAddr => 1)
            or next;
        close $s;
        return $port;
    }

    die "no free port";
}

# runs a program as the server's user, its output into a log of the folder
sub run_as {
    my ($self, @cmd) = @_;

    my $log = "$self->{dir}/" . ($cmd[0] =~ m{([^/]+)$})[0] . '.log';

    my $pid = fork // die "fork: $!";

    if ($pid == 0) {
        open STDOUT, '>>', $log;
        open STDERR, '>&', \*STDOUT;

        $self->become;

        chdir $self->{dir};
        exec @cmd or exit 127;
    }

    waitpid $pid, 0;

    return $? == 0;
}

# in a child: the server's user, when the test runs as root
sub become {
    my ($self) = @_;

    return unless $self->{as};

    my (undef, undef, $uid, $gid) = getpwnam($self->{as});
    $) = "$gid $gid";
    $( = $gid;
    $< = $> = $uid;
    $ENV{HOME} = $self->{dir};
}

sub read {
    my ($self, $name) = @_;
    open my $fh, '<', "$self->{dir}/$name" or return '';
    local $/;
    return <$fh>;
}

sub start {
    my ($self) = @_;

    my $opts = "-p $self->{port} -k $self->{dir} "
             . "-c listen_addresses=127.0.0.1 -c fsync=off";

    $self->run_as(bin('pg_ctl'), '-D', "$self->{dir}/data", '-o', $opts,
                  '-l', "$self->{dir}/server.log", '-w', '-t', '30', 'start')
        or die "PostgreSQL did not start: " . $self->read('server.log');

    ($self->{master}) = $self->read('data/postmaster.pid') =~ /^(\d+)/;
    $self->{running} = 1;
}

sub stop {
    my ($self) = @_;

    return unless $self->{running};

    $self->cont if $self->{stopped};
    $self->run_as(bin('pg_ctl'), '-D', "$self->{dir}/data", '-m', 'fast',
                  '-w', '-t', '30', 'stop');

    # whatever happened to its folder, no server of the test outlives it
    if ($self->{master} && kill 0, $self->{master}) {
        kill 'CONT', $self->pids, $self->{master};
        kill 'KILL', $self->pids, $self->{master};
    }

    $self->{running} = 0;
}

# every process of the server, the postmaster first
sub pids {
    my ($self) = @_;

    my $master = $self->{master};
    return () unless $master;

    my @pids = ($master);

    for my $stat (glob '/proc/[0-9]*/stat') {
        open my $fh, '<', $stat or next;
        my $line = <$fh> // next;
        my ($pid, $ppid) = $line =~ /^(\d+) \(.*\) \S+ (\d+)/;
        push @pids, $pid if $ppid && $ppid == $master;
    }

    return @pids;
}

# the server frozen (SIGSTOP), as a host that stalls, and thawed
sub freeze {
    my ($self) = @_;
    kill 'STOP', $self->pids;
    $self->{stopped} = 1;
}

sub cont {
    my ($self) = @_;
    kill 'CONT', $self->pids;
    $self->{stopped} = 0;
}

# a statement as the superuser, over the folder's socket; its output
sub psql {
    my ($self, $sql, $db) = @_;

    my $out = "$self->{dir}/psql.out";
    unlink $out;

    open my $fh, '>', "$self->{dir}/psql.sql" or die;
    print $fh $sql;
    close $fh;
    chmod 0644, "$self->{dir}/psql.sql";

    my $pid = fork // die "fork: $!";

    if ($pid == 0) {
        open STDOUT, '>', $out;
        open STDERR, '>&', \*STDOUT;

        $self->become;

        exec bin('psql'), '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1',
             '-h', $self->{dir}, '-p', $self->{port}, '-U', 'postgres',
             '-d', $db // 'postgres', '-f', "$self->{dir}/psql.sql"
            or exit 127;
    }

    waitpid $pid, 0;
    my $ok = $? == 0;

    open $fh, '<', $out or return undef;
    local $/;
    my $text = <$fh> // '';

    die "psql failed: $text" unless $ok;

    return $text;
}

sub DESTROY { $_[0]->stop }

END { $_->stop for @servers }

1;
