package ClusterTest;

# A small harness for the integration tests, in the spirit of nginx's own
# test suite: a temporary folder, free loopback ports, the module loaded into
# the system nginx, simulated nodes started and stopped by the test, raw
# HTTP, reloads, and at the end a check that the error log holds no alert,
# emergency or sanitizer report.

use strict;
use warnings;

use Exporter qw(import);
use File::Temp qw(tempdir);
use IO::Select;
use IO::Socket::INET;
use JSON::PP;
use POSIX qw(:sys_wait_h);
use Test::More;
use Time::HiRes qw(sleep time);

our @EXPORT_OK = qw(http_get http_request);

my @instances;

sub new {
    my ($class, %opts) = @_;

    for my $var (qw(CLUSTER_MODULE CLUSTER_SIM NGINX_BIN)) {
        plan(skip_all => "$var is not set: run the tests with 'make test'")
            unless $ENV{$var};
    }

    my $dir = tempdir('cluster-t-XXXXXX', TMPDIR => 1,
                      CLEANUP => !$ENV{TEST_KEEP});

    # nginx's workers run as nobody: they must be able to read the folder
    chmod 0755, $dir;
    mkdir "$dir/san";
    chmod 0777, "$dir/san";

    my $self = bless {
        dir => $dir,
        ports => {},
        used => {},
        sims => {},
        nginx => undef,
        allow => [],
        workers => $opts{workers} // 2,
    }, $class;

    push @instances, $self;

    return $self;
}

sub dir { $_[0]{dir} }

# a free TCP port on loopback, the same one for the same name
sub port {
    my ($self, $name) = @_;

    return $self->{ports}{$name} if $self->{ports}{$name};

    # below the ephemeral range (32768 up), which a client's connections
    # take from, so that a port found free stays free
    for (1 .. 1000) {
        my $port = 10000 + int(rand(22000));
        next if $self->{used}{$port};
        my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                      LocalPort => $port, Proto => 'tcp',
                                      Listen => 1, ReuseAddr => 1)
            or next;
        close $s;
        $self->{used}{$port} = 1;
        return $self->{ports}{$name} = $port;
    }

    die "no free port";
}

# a file of the test's folder that only its owner may read (a key, a
# token), as nginx -t wants them
sub secret {
    my ($self, $name, $text) = @_;

    open my $fh, '>', "$self->{dir}/$name" or die "$name: $!";
    print $fh "$text\n";
    close $fh;
    chmod 0600, "$self->{dir}/$name";
}

# lines of the error log that are expected, and so are not failures
sub allow_log {
    my ($self, $re) = @_;
    push @{$self->{allow}}, $re;
}

# Writes nginx.conf around the test's http block; %%PORT_name%% becomes a
# port, %%DIR%% the test's folder.
sub write_config {
    my ($self, $http, %opts) = @_;

    my $dir = $self->{dir};
    my $level = $opts{log_level} // 'notice';

    $self->{workers} = $opts{workers} if $opts{workers};

    $http =~ s/%%PORT_(\w+)%%/$self->port($1)/ge;
    $http =~ s/%%DIR%%/$dir/g;

    # nginx empties its workers' environment: the sanitizers' options
    # reach them only through "env"
    my @env = $ENV{CLUSTER_SANITIZE}
        ? ("env ASAN_OPTIONS;", "env UBSAN_OPTIONS;") : ();

    # "static": an nginx with the module linked in
    my @load = $ENV{CLUSTER_MODULE} eq 'static'
        ? () : ("load_module $ENV{CLUSTER_MODULE};");

    my $conf = join "\n",
        @load,
        @env,
        "",
        "pid $dir/nginx.pid;",
        "error_log $dir/error.log $level;",
        "worker_processes $self->{workers};",
        "daemon off;",
        "",
        "events {",
        "    worker_connections 1024;",
        "}",
        "",
        "http {",
        "    access_log $dir/access.log;",
        "    client_body_temp_path $dir/client_body;",
        "    proxy_temp_path $dir/proxy;",
        "    fastcgi_temp_path $dir/fastcgi;",
        "    uwsgi_temp_path $dir/uwsgi;",
        "    scgi_temp_path $dir/scgi;",
        "",
        $http,
        "}",
        "";

    open my $fh, '>', "$dir/nginx.conf" or die "nginx.conf: $!";
    print $fh $conf;
    close $fh;

    return "$dir/nginx.conf";
}

sub _env {
    my ($self, $who) = @_;

    return () unless $ENV{CLUSTER_SANITIZE};

    my %env = (
        ASAN_OPTIONS => "log_path=$self->{dir}/san/asan-$who"
                        . ":detect_leaks=0:abort_on_error=1",
        UBSAN_OPTIONS => "log_path=$self->{dir}/san/ubsan-$who"
                         . ":print_stacktrace=1",
    );

    if ($who eq 'nginx' || $who eq 'haproxy') {
        # the system nginx is not instrumented: its module is
        chomp(my $asan = `cc -print-file-name=libasan.so`);
        $env{LD_PRELOAD} = $asan;
    }

    return %env;
}

# nginx -t on the current config: (exit code, what nginx said)
sub test_config {
    my ($self) = @_;

    my %env = $self->_env('nginx');
    local @ENV{keys %env} = values %env;

    my $dir = $self->{dir};
    my $out = `$ENV{NGINX_BIN} -t -q -p $dir/ -c $dir/nginx.conf -e $dir/t.log 2>&1`;
    my $rc = $? >> 8;

    if (open my $fh, '<', "$dir/t.log") {
        local $/;
        $out .= <$fh>;
        close $fh;
        unlink "$dir/t.log";
    }

    return ($rc, $out);
}

sub run {
    my ($self, %opts) = @_;

    my $dir = $self->{dir};
    my %env = $self->_env('nginx');

    my $pid = fork // die "fork: $!";

    if ($pid == 0) {
        @ENV{keys %env} = values %env;
        open STDOUT, '>>', "$dir/stderr.log";
        open STDERR, '>>', "$dir/stderr.log";
        exec $ENV{NGINX_BIN}, '-p', "$dir/", '-c', "$dir/nginx.conf",
             '-e', "$dir/error.log";
        die "exec: $!";
    }

    $self->{nginx} = $pid;

    my $port = $opts{port} // $self->port('http');

    $self->wait_port($port)
        or die "nginx did not start:\n" . $self->read_file('error.log');

    return $self;
}

# waits until something listens on the port ("port" or "host:port")
sub wait_port {
    my ($self, $port, $timeout) = @_;

    my ($host, $p) = _peer($port);
    my $until = time + ($timeout // 10);

    while (time < $until) {
        my $s = IO::Socket::INET->new(PeerAddr => $host,
                                      PeerPort => $p, Proto => 'tcp');
        return 1 if $s;
        sleep 0.05;
    }

    return 0;
}

sub read_file {
    my ($self, $name) = @_;

    open my $fh, '<', "$self->{dir}/$name" or return '';
    local $/;
    return <$fh>;
}

sub count_log {
    my ($self, $re, $file) = @_;
    return scalar grep { /$re/ } split /\n/,
        $self->read_file($file // 'error.log');
}

# waits until the log matches $re at least $n times
sub wait_log {
    my ($self, $re, $n, $timeout) = @_;

    return $self->wait_for(sub { $self->count_log($re) >= ($n // 1) },
                           $timeout);
}

sub reload {
    my ($self) = @_;

    my $before = $self->count_log(qr/start worker process/);

    kill 'HUP', $self->{nginx};

    # the new workers are up when the log says so, the old ones soon gone
    $self->wait_log(qr/start worker process/, $before + $self->{workers})
        or die "nginx did not reload:\n" . $self->read_file('error.log');
    sleep 0.3;

    return $self;
}

sub stop {
    my ($self) = @_;

    my $pid = delete $self->{nginx} or return;

    kill 'QUIT', $pid;

    my $until = time + 10;
    while (time < $until) {
        return if waitpid($pid, WNOHANG) == $pid;
        sleep 0.05;
    }

    kill 'KILL', $pid;
    waitpid($pid, 0);
}

# nginx's version as a number, 1031004 for 1.31.4
sub nginx_version {
    my $v = `$ENV{NGINX_BIN} -v 2>&1`;
    my ($a, $b, $c) = $v =~ m{nginx/(\d+)\.(\d+)\.(\d+)} or return 0;
    return $a * 1000000 + $b * 1000 + $c;
}

# skips the whole test when nginx is older than $version ("1.29.6")
sub need_nginx {
    my ($self, $version, $what) = @_;

    my ($a, $b, $c) = split /\./, $version;
    plan(skip_all => "$what needs nginx $version or later")
        if nginx_version() < $a * 1000000 + $b * 1000 + $c;
}

# A DNS server on loopback, for "server ... resolve": answers A queries
# for the names of $self->dns_set() with their addresses (time to live
# 1 s), every other question with no answer; a child process, stopped
# with the test.  Returns its UDP port.
sub dns {
    my ($self) = @_;

    my $port = $self->port('dns');
    my $sock = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                     LocalPort => $port, Proto => 'udp')
        or die "dns: $!";
    my $file = "$self->{dir}/dns.txt";

    $self->dns_set();

    my $pid = fork // die "fork: $!";

    if ($pid == 0) {
        # the child never runs the test's END: it only answers
        eval { _dns_serve($sock, $file) };
        POSIX::_exit(0);
    }

    $self->{dns} = $pid;

    return $port;
}

sub _dns_serve {
    my ($sock, $file) = @_;

    {
        while (1) {
            my $from = $sock->recv(my $q, 512) // next;
            next if length($q) < 17;

            # the question: its name in labels, its type and class
            my ($id) = unpack('n', $q);
            my ($pos, @labels) = (12);
            while ((my $len = ord(substr($q, $pos, 1))) && $pos < length $q) {
                push @labels, substr($q, $pos + 1, $len);
                $pos += $len + 1;
            }
            my $question = substr($q, 12, $pos + 5 - 12);
            my ($type) = unpack('n', substr($q, $pos + 1, 2));
            my $name = lc join('.', @labels);

            my %table;
            if (open my $fh, '<', $file) {
                while (<$fh>) {
                    my ($n, @a) = split;
                    $table{$n} = \@a if defined $n;
                }
            }

            my @addrs = $type == 1 ? @{$table{$name} // []} : ();
            my $answers = join '', map {
                pack('n n n N n', 0xc00c, 1, 1, 1, 4)
                . pack('C4', split /\./, $_)
            } @addrs;

            $sock->send(pack('n n n n n n', $id, 0x8180, 1, scalar @addrs,
                             0, 0) . $question . $answers, 0, $from);
        }
    }
}

# what the DNS server answers: ("name" => ["127.0.0.2", ...], ...)
sub dns_set {
    my ($self, %names) = @_;

    my $file = "$self->{dir}/dns.txt";

    open my $fh, '>', "$file.new" or die "dns: $!";
    print $fh join(' ', $_, @{$names{$_}}), "\n" for sort keys %names;
    close $fh;
    rename "$file.new", $file or die "dns: $!";
}

sub stop_dns {
    my ($self) = @_;

    my $pid = delete $self->{dns} or return;

    kill 'KILL', $pid;
    waitpid($pid, 0);
}

# Starts a simulated node; options as cluster-sim's, without the dashes.
sub sim {
    my ($self, $name, %opts) = @_;

    my $port = $opts{port} // $self->port($name);
    my @args = ('--name', $name, '--port', $port);

    for my $k (qw(version health service listen messenger key cookie)) {
        push @args, "--$k", $opts{$k} if defined $opts{$k};
    }

    my %env = $self->_env('sim');
    my $pid = fork // die "fork: $!";

    if ($pid == 0) {
        @ENV{keys %env} = values %env;
        open STDOUT, '>>', "$self->{dir}/sim-$name.log";
        open STDERR, '>>', "$self->{dir}/sim-$name.log";
        exec $ENV{CLUSTER_SIM}, @args;
        die "exec: $!";
    }

    $self->{sims}{$name} = $pid;
    $self->{sim_at}{$name} = ($opts{listen} // '127.0.0.1') . ":$port";

    $self->wait_port($self->{sim_at}{$name})
        or die "simulator $name did not start";

    return $port;
}

sub stop_sim {
    my ($self, $name) = @_;

    my $pid = delete $self->{sims}{$name} or return;

    kill 'TERM', $pid;
    waitpid($pid, 0);
}

sub sim_control {
    my ($self, $name, $query) = @_;

    my $r = http_get($self->{sim_at}{$name}, "/_sim/control?$query");
    die "sim control failed" unless $r->{status} && $r->{status} == 200;
    return decode_json($r->{body});
}

sub sim_stats {
    my ($self, $name) = @_;
    return decode_json(http_get($self->{sim_at}{$name}, '/_sim/stats')->{body});
}

sub get {
    my ($self, $path, %headers) = @_;
    return http_get($self->port('http'), $path, %headers);
}

# which node served each of $n requests: { name => count }
sub spread {
    my ($self, $n, $path) = @_;

    my %seen;
    for (1 .. $n) {
        my $r = $self->get($path // '/');
        my $who = $r->{status} == 200 ? $r->{headers}{'x-node'} // '?'
                                       : "status $r->{status}";
        $seen{$who}++;
    }

    return \%seen;
}

# the status document, decoded
sub status {
    my ($self, $path) = @_;

    my $r = $self->get($path // '/cluster');
    die "status answered $r->{status}" unless $r->{status} == 200;

    return decode_json($r->{body});
}

# one cluster of the status, by name; the first one without
sub cluster {
    my ($self, $name, $path) = @_;

    my $doc = $self->status($path);
    my ($c) = grep { !defined $name || $_->{name} eq $name }
        @{$doc->{clusters}};

    return $c;
}

# one node of a cluster's status, by address
sub node {
    my ($self, $cluster, $id) = @_;

    my ($n) = grep { $_->{id} eq $id } @{$self->cluster($cluster)->{nodes}};
    return $n;
}

# an admin action on a node of a cluster, with a bearer token: the status
# code of the answer
sub act {
    my ($self, $what, $id, $cluster, $token) = @_;
    return http_request($self->port('http'), 'POST',
                        "/cluster/nodes/$id/$what?cluster=$cluster",
                        '', Authorization => "Bearer $token")->{status};
}

# waits until every node of the cluster is up; false after $timeout (5) s
sub all_up {
    my ($self, $cluster, $timeout) = @_;

    return $self->wait_for(sub {
        !grep { $_->{state} ne 'up' } @{$self->cluster($cluster)->{nodes}};
    }, $timeout // 5);
}

# a user signs in through nginx: (the node that answered, "name=value" of
# the auth cookie it set)
sub sign_in {
    my ($self) = @_;

    my $r = $self->get('/log-in');
    my ($cookie) = ($r->{headers}{'set-cookie'} // '') =~ /^([^;]+)/;

    return ($r->{headers}{'x-node'} // '?', $cookie);
}

# polls $code until it returns true, or $timeout seconds pass
sub wait_for {
    my ($self, $code, $timeout) = @_;

    my $until = time + ($timeout // 10);

    while (time < $until) {
        return 1 if $code->();
        sleep 0.1;
    }

    return 0;
}

sub http_get {
    my ($port, $path, %headers) = @_;
    return http_request($port, 'GET', $path, undef, %headers);
}

# "port" is loopback's; "host:port" names the address too
sub _peer {
    my ($peer) = @_;
    return $peer =~ /^(.+):(\d+)$/ ? ($1, $2) : ('127.0.0.1', $peer);
}

sub http_request {
    my ($port, $method, $path, $body, %headers) = @_;

    my ($host, $p) = _peer($port);
    my $s = IO::Socket::INET->new(PeerAddr => $host, PeerPort => $p,
                                  Proto => 'tcp', Timeout => 10)
        or return { status => 0, error => "$!", headers => {}, body => '' };

    my $req = "$method $path HTTP/1.1\r\nHost: localhost\r\n"
        . "Connection: close\r\n";
    $req .= "$_: $headers{$_}\r\n" for sort keys %headers;
    $req .= "Content-Length: " . length($body) . "\r\n" if defined $body;
    $req .= "\r\n";
    $req .= $body if defined $body;

    print $s $req;

    # a server that never answers (a worker that keeps dying, say) fails
    # the request after 30 s, not the whole run
    my $sel = IO::Select->new($s);
    my $raw = '';
    while ($sel->can_read(30)) {
        my $n = sysread($s, my $buf, 65536);
        last unless $n;
        $raw .= $buf;
    }
    close $s;

    my ($head, $content) = split /\r\n\r\n/, $raw, 2;
    return { status => 0, raw => $raw, headers => {}, body => '' }
        unless defined $head && length $head;

    my ($status_line, @lines) = split /\r\n/, $head;
    my ($status) = $status_line =~ m{^HTTP/\d\.\d (\d+)};
    my %h;
    for (@lines) {
        my ($k, $v) = /^([^:]+):\s*(.*)$/ or next;
        $h{lc $k} = $v;
    }

    $content //= '';

    if (($h{'transfer-encoding'} // '') =~ /chunked/i) {
        my $out = '';
        while ($content =~ s/^([0-9a-fA-F]+)\r\n//) {
            my $len = hex $1;
            last if $len == 0;
            $out .= substr($content, 0, $len, '');
            $content =~ s/^\r\n//;
        }
        $content = $out;
    }

    return { status => $status // 0, headers => \%h, body => $content };
}

# What went wrong in nginx, as its logs and the sanitizers tell it: lines
# of the error log at alert, crit or emerg, a sanitizer's report (in its
# own file, in stderr, or in the error log, where a worker's lands), and a
# worker that exited with an error or on a signal; less what the test said
# to expect with allow_log().
sub problems {
    my ($self) = @_;

    my $bad = qr/\[(?:alert|emerg|crit)\]|runtime\ error:|AddressSanitizer
                 |LeakSanitizer|exited\ with\ code\ [1-9]|exited\ on\ signal/x;

    my @lines = grep { /$bad/ } split(/\n/, $self->read_file('error.log')),
                                split(/\n/, $self->read_file('stderr.log'));

    for my $f (glob "$self->{dir}/san/*") {
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

# The checks every test ends with.
sub check_logs {
    my ($self) = @_;

    is(join("\n", $self->problems), '',
       'no alert, crit, emerg, sanitizer report or failed worker in the logs');
}

sub DESTROY {
    my ($self) = @_;
    $self->stop;
    $self->stop_dns;
    $self->stop_sim($_) for keys %{$self->{sims}};
}

END {
    for my $t (@instances) {
        $t->stop;
        $t->stop_dns;
        $t->stop_sim($_) for keys %{$t->{sims}};
    }
}

1;
