#!/usr/bin/perl

# nginx's own tests of the balancing methods, redone with "cluster" in every
# upstream: the cases of nginx-tests' upstream_hash.t, upstream_ip_hash.t,
# upstream_least_conn.t, upstream_random.t and upstream_max_conns.t, with
# what each asserts, written for this harness. "cluster zone=...;" comes
# after the method in some upstreams and before it in others, so both orders
# are seen under every method (under round robin, before and after the
# servers). nginx serves as its own backends: each answers with its port in
# X-Port, and a backend that must stay busy sends a slow body (limit_rate),
# so its upstream connection stays open while the test looks on; the test
# reads the answer's header and closes, which ends the request.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use IO::Select;
use IO::Socket::INET;
use Time::HiRes qw(sleep time);
use ClusterTest;

my $t = ClusterTest->new(workers => 1);

# the backends by port, so that results name them: b1 b2 b3, b4 the bad one
my %name_of = map { $t->port($_) => $_ } qw(b1 b2 b3 b4);

# a slow body: the first 8 KiB at once (so the header reaches the client at
# once, through proxy buffers or not), the rest at 500 bytes a second, some
# 3.5 s more
mkdir $t->dir . '/html';
open my $fh, '>', $t->dir . '/html/slow' or die;
print $fh 'x' x 10240;
close $fh;

my $slow = <<'EOF';
            root %%DIR%%/html;
            try_files /slow =404;
            limit_rate_after 8k;
            limit_rate 500;
EOF

# one backend: its port in X-Port; "/" answers 204 unless $locations says
# otherwise
sub backend {
    my ($name, $locations) = @_;

    $locations //= '';
    $locations = "        location / { return 204; }\n$locations"
        unless $locations =~ m{location / };

    return <<"EOF";
    server {
        listen 127.0.0.1:%%PORT_$name%%;
        add_header X-Port \$server_port;
$locations
    }
EOF
}

# which backend answered, undef when none did (no X-Port)
sub who {
    my ($r) = @_;
    my $port = $r->{headers}{'x-port'};
    return undef unless defined $port;
    return $name_of{$port} // "port $port";
}

# { backend => count } of $n requests for $path
sub many {
    my ($path, $n, %headers) = @_;
    my %seen;
    for (1 .. $n) {
        my $who = who($t->get($path, %headers));
        $seen{$who}++ if defined $who;
    }
    return \%seen;
}

# the backend of each of $n keys ?a=1 .. ?a=$n ('-' for none)
sub keyed {
    my ($path, $n) = @_;
    return [ map { who($t->get("$path?a=$_")) // '-' } 1 .. $n ];
}

# a request sent and not yet read
sub send_get {
    my ($path) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $t->port('http'),
                                  Proto => 'tcp') or die "connect: $!";
    print $s "GET $path HTTP/1.1\r\nHost: localhost\r\n"
        . "Connection: close\r\n\r\n";
    return $s;
}

# reads an answer's header, within $timeout seconds; then the backend, as who()
sub header_of {
    my ($s, $timeout) = @_;

    my $buf = '';
    my $sel = IO::Select->new($s);
    my $until = time + ($timeout // 5);

    while ($buf !~ /\r\n\r\n/) {
        my $left = $until - time;
        last if $left <= 0 || !$sel->can_read($left);
        last unless sysread($s, $buf, 4096, length $buf);
    }

    my ($head) = split /\r\n\r\n/, $buf, 2;
    my ($port) = ($head // '') =~ /^X-Port: (\d+)\r?$/mi;
    return undef unless defined $port;
    return $name_of{$port} // "port $port";
}

sub tally {
    my %n;
    $n{$_}++ for grep { defined } @_;
    return \%n;
}

# $n requests at once ($gap s apart), each kept busy until all were sent:
# { backend => count } of those answered
sub parallel {
    my ($path, $n, $gap) = @_;

    my @s;
    for (1 .. $n) {
        push @s, send_get($path);
        sleep $gap if $gap;
    }

    my @who = map { header_of($_) } @s;
    close $_ for @s;

    return tally(@who);
}

# $n requests, each sent once the one before has its answer (or after 1.1 s
# without): the backends in order, '-' for a request nobody answered
sub in_order {
    my ($path, $n) = @_;

    my @s;
    for (1 .. $n) {
        push @s, send_get($path);
        IO::Select->new($s[-1])->can_read(1.1);
    }

    my @who = map { header_of($_) // '-' } @s;
    close $_ for @s;

    return join ' ', @who;
}

# beyond nginx's cases: the cluster of each upstream named took part, each
# one counted answers of its nodes
sub counted {
    my ($what, @upstreams) = @_;

    my %answers;
    for my $c (@{$t->status->{clusters}}) {
        $answers{$c->{name}} += $_->{web}{requests} // 0 for @{$c->{nodes}};
    }

    my @idle = grep { !$answers{$_} } @upstreams;

    is("@idle", '', "$what: the cluster of every upstream counted answers");
}

# a fresh nginx on a new configuration
sub restart {
    my ($http, %opts) = @_;
    $t->stop;
    $t->write_config($http, %opts);
    $t->run;
}

###############################################################################
# upstream_hash.t: hash $arg_a, plain and consistent, with weights, an empty
# key, a backend that fails

my $busy = "        location /busy { return 444; }\n";

restart(<<'EOF2' . backend('b1', $busy) . backend('b2', $busy) . <<'EOF');
    upstream u {
        hash $arg_a;
        cluster zone=hash_u:1m;
        server 127.0.0.1:%%PORT_b1%%;
        server 127.0.0.1:%%PORT_b2%%;
        server 127.0.0.1:%%PORT_b3%%;
    }

    upstream u2 {
        cluster zone=hash_u2:1m;
        hash $arg_a;
        server 127.0.0.1:%%PORT_b1%%;
        server 127.0.0.1:%%PORT_b3%%;
    }

    # u without cluster, to compare with
    upstream plain {
        hash $arg_a;
        server 127.0.0.1:%%PORT_b1%%;
        server 127.0.0.1:%%PORT_b2%%;
        server 127.0.0.1:%%PORT_b3%%;
    }

    upstream cw {
        cluster zone=hash_cw:1m;
        hash $arg_a consistent;
        server 127.0.0.1:%%PORT_b1%%;
        server 127.0.0.1:%%PORT_b2%%;
        server 127.0.0.1:%%PORT_b3%% weight=10;
    }

    upstream cw2 {
        hash $arg_a consistent;
        server 127.0.0.1:%%PORT_b1%%;
        server 127.0.0.1:%%PORT_b3%% weight=10;
        cluster zone=hash_cw2:1m;
    }

    upstream c {
        hash $arg_a consistent;
        cluster zone=hash_c:1m;
        server 127.0.0.1:%%PORT_b1%%;
        server 127.0.0.1:%%PORT_b2%%;
        server 127.0.0.1:%%PORT_b3%%;
    }

    upstream c2 {
        cluster zone=hash_c2:1m;
        hash $arg_a consistent;
        server 127.0.0.1:%%PORT_b1%%;
        server 127.0.0.1:%%PORT_b3%%;
    }

    upstream cplain {
        hash $arg_a consistent;
        server 127.0.0.1:%%PORT_b1%%;
        server 127.0.0.1:%%PORT_b2%%;
        server 127.0.0.1:%%PORT_b3%%;
    }

    upstream bad {
        hash $arg_a;
        server 127.0.0.1:%%PORT_b1%%;
        server 127.0.0.1:%%PORT_b4%%;
        cluster zone=hash_bad:1m;
    }

    upstream cbad {
        cluster zone=hash_cbad:1m;
        hash $arg_a consistent;
        server 127.0.0.1:%%PORT_b1%%;
        server 127.0.0.1:%%PORT_b4%%;
    }

    server {
        listen 127.0.0.1:%%PORT_http%%;

        location /cluster { cluster_status; }

        location /u/      { proxy_pass http://u/; }
        location /u2/     { proxy_pass http://u2/; }
        location /plain/  { proxy_pass http://plain/; }
        location /cw/     { proxy_pass http://cw/; }
        location /cw2/    { proxy_pass http://cw2/; }
        location /c/      { proxy_pass http://c/; }
        location /c2/     { proxy_pass http://c2/; }
        location /cplain/ { proxy_pass http://cplain/; }
        location /bad/    { proxy_pass http://bad/; }
        location /cbad/   { proxy_pass http://cbad/; }

        # every backend fails /busy: the header names what was tried
        location /busy/ {
            proxy_pass http://bad/busy;
            add_header X-IP $upstream_addr always;
        }
        location /cbusy/ {
            proxy_pass http://cbad/busy;
            add_header X-IP $upstream_addr always;
        }

        # b3's 502 as a failure, to be tried again elsewhere
        location /pnu/ {
            proxy_pass http://u/;
            proxy_next_upstream http_502;
        }
    }
EOF2
    server {
        listen 127.0.0.1:%%PORT_b3%%;
        add_header X-Port $server_port;
        location / { return 204; }
        location /502 { return 502; }
        location /busy { return 444; }
    }

    # a backend that closes every connection unanswered
    server {
        listen 127.0.0.1:%%PORT_b4%%;
        return 444;
    }
EOF

# keys ?a=1 .. ?a=20 on three servers, then on two (b2 gone): under plain
# hash keys of b1 and b3 move too, under consistent hash only those of b2
sub moved_besides {
    my ($three, $two, $gone) = @_;
    return scalar grep { $three->[$_] ne $two->[$_] && $three->[$_] ne $gone }
        0 .. $#$three;
}

my ($u, $u2) = (keyed('/u/', 20), keyed('/u2/', 20));
ok(moved_besides($u, $u2, 'b2') > 0, 'hash: other keys move too')
    or diag "@$u / @$u2";

my ($c, $c2) = (keyed('/c/', 20), keyed('/c2/', 20));
is(moved_besides($c, $c2, 'b2'), 0, 'consistent hash: only the keys of b2 move')
    or diag "@$c / @$c2";

my ($cw, $cw2) = (keyed('/cw/', 20), keyed('/cw2/', 20));
is(moved_besides($cw, $cw2, 'b2'), 0,
   'consistent hash with weights: only the keys of b2 move')
    or diag "@$cw / @$cw2";

# beyond nginx's cases: the keys go where they go without cluster
is_deeply($u, keyed('/plain/', 20), 'hash: the same nodes as without cluster');
is_deeply($c, keyed('/cplain/', 20),
          'consistent hash: the same nodes as without cluster');

my $one = many('/u/?a=1', 10);
ok(keys %$one == 1 && (values %$one)[0] == 10, 'hash: one key, one node')
    or diag explain $one;
$one = many('/c/?a=1', 10);
ok(keys %$one == 1 && (values %$one)[0] == 10,
   'consistent hash: one key, one node') or diag explain $one;

# an empty key: round robin
is_deeply(many('/u/?a=', 6), { b1 => 2, b2 => 2, b3 => 2 },
          'hash: an empty key is balanced by round robin');
is_deeply(many('/c/?a=', 6), { b1 => 2, b2 => 2, b3 => 2 },
          'consistent hash: an empty key is balanced by round robin');

# b3 answers 502 to /502: with the default proxy_next_upstream that is its
# answer, not a failure (for nginx, and for the cluster, see the README's
# "What counts as a failure"), so no key moves; the 502 has no X-Port
my $all = keyed('/u/', 10);
is(scalar(grep { $_ ne '-' } @$all), 10, 'hash: every key served');

my $with_502 = keyed('/u/502', 10);
is_deeply([ map { $_ eq 'b3' ? '-' : $_ } @$all ], $with_502,
          'hash: no proxy_next_upstream, no key moves');
ok((grep { $_ eq '-' } @$with_502) > 0, 'hash: b3 answers its 502s');

# with proxy_next_upstream http_502 they are failures, tried again: every
# key is served. (Failures for the cluster as well; nginx's max_fails=1
# keeps b3 out after the first, so the cluster sees too few to call it down,
# fall=3; either way the method moves b3's keys, and serves them.)
is(scalar(grep { $_ ne '-' } @{keyed('/pnu/502', 10)}), 10,
   'hash: proxy_next_upstream serves every key');

# b4 closes every connection: its keys go to b1, the one left. (b4's
# failures would take it out of the cluster's rotation after fall=3;
# nginx's own max_fails=1 takes it out first, and the method sends its keys
# on either way.)
is_deeply(tally(@{keyed('/bad/', 20)}), { b1 => 20 },
          'hash: the keys of a failing backend go to the other');
is_deeply(tally(@{keyed('/cbad/', 20)}), { b1 => 20 },
          'consistent hash: the keys of a failing backend go to the other');

# b1 fails too and b4 is still out by max_fails: b1 is tried, then none is
# left and $upstream_addr ends with the upstream's name
like($t->get('/busy/')->{headers}{'x-ip'} // '',
     qr/^127\.0\.0\.1:${\ $t->port('b1')}, bad$/,
     'hash: b1 tried, then no live upstream');
like($t->get('/cbusy/')->{headers}{'x-ip'} // '',
     qr/^127\.0\.0\.1:${\ $t->port('b1')}, cbad$/,
     'consistent hash: b1 tried, then no live upstream');

counted('hash', qw(u u2 cw cw2 c c2 bad cbad));

###############################################################################
# upstream_ip_hash.t: the client's address (from X-Real-IP), by its first
# three bytes

restart(<<'EOF' . backend('b1') . backend('b2') . backend('b3'));
    upstream u {
        ip_hash;
        server 127.0.0.1:%%PORT_b1%%;
        server 127.0.0.1:%%PORT_b2%%;
        cluster zone=ip_u:1m;
    }

    upstream u2 {
        cluster zone=ip_u2:1m;
        ip_hash;
        server 127.0.0.1:%%PORT_b1%%;
        server 127.0.0.1:%%PORT_b2%%;
        server 127.0.0.1:%%PORT_b3%%;
    }

    upstream plain {
        ip_hash;
        server 127.0.0.1:%%PORT_b1%%;
        server 127.0.0.1:%%PORT_b2%%;
        server 127.0.0.1:%%PORT_b3%%;
    }

    upstream s {
        ip_hash;
        cluster zone=ip_s:1m;
        server 127.0.0.1:%%PORT_b1%%;
    }

    server {
        listen 127.0.0.1:%%PORT_http%%;

        location /cluster { cluster_status; }

        set_real_ip_from 127.0.0.0/8;
        add_header X-IP $remote_addr;

        location /u/     { proxy_pass http://u/; }
        location /u2/    { proxy_pass http://u2/; }
        location /plain/ { proxy_pass http://plain/; }
        location /s/     { proxy_pass http://s/; }
    }
EOF

is($t->get('/u/', 'X-Real-IP' => '127.0.7.2')->{headers}{'x-ip'},
   '127.0.7.2', 'ip_hash: the client address is X-Real-IP');

# 30 clients, 127.0.1.2 .. 127.0.30.2, once each
sub clients {
    my ($path) = @_;
    return [ map { who($t->get($path, 'X-Real-IP' => "127.0.$_.2")) // '-' }
             1 .. 30 ];
}

is_deeply(tally(@{clients('/u/')}), { b1 => 15, b2 => 15 },
          'ip_hash: two servers, half each');

my $by_client = clients('/u2/');
is_deeply(tally(@$by_client), { b1 => 10, b2 => 10, b3 => 10 },
          'ip_hash: three servers, a third each');
is_deeply($by_client, clients('/plain/'),
          'ip_hash: the same nodes as without cluster');
is_deeply(clients('/u2/'), $by_client, 'ip_hash: each client stays');

is_deeply(tally(@{clients('/s/')}), { b1 => 30 }, 'ip_hash: one server, all');

counted('ip_hash', qw(u u2 s));

###############################################################################
# upstream_least_conn.t: balanced when idle; a busy backend gets nothing new

my $lc_b1 = backend('b1', "        location /w {\n$slow        }\n");

restart(<<'EOF' . $lc_b1 . backend('b2', "        location /w { return 204; }\n"));
    upstream after {
        least_conn;
        cluster zone=lc_after:1m;
        server 127.0.0.1:%%PORT_b1%%;
        server 127.0.0.1:%%PORT_b2%%;
    }

    upstream before {
        cluster zone=lc_before:1m;
        least_conn;
        server 127.0.0.1:%%PORT_b1%%;
        server 127.0.0.1:%%PORT_b2%%;
    }

    server {
        listen 127.0.0.1:%%PORT_http%%;

        location /cluster { cluster_status; }

        location /after/  { proxy_pass http://after/; }
        location /before/ { proxy_pass http://before/; }
    }
EOF

for my $order (qw(after before)) {
    my $what = "least_conn, cluster $order";

    is_deeply(many("/$order/", 10), { b1 => 5, b2 => 5 }, "$what: balanced");

    # two at once: one of them lands on b1, which keeps it busy
    my @busy = map { send_get("/$order/w") } 1 .. 2;
    sleep 0.2;

    is_deeply(many("/$order/w", 10), { b2 => 10 },
              "$what: the busy backend gets nothing new");

    my $held = tally(map { header_of($_) } @busy);
    close $_ for @busy;
    is($held->{b1}, 1, "$what: b1 was the busy one") or diag explain $held;
}

counted('least_conn', qw(after before));

###############################################################################
# upstream_random.t: random and random two (least_conn by weight), with and
# without the upstream's zone, max_conns, a backend that fails; two workers,
# which share the counts of connections through the upstream's zone

my $random_b = sub {
    my ($name, $close) = @_;
    my $loc = "        location / { return 200 \"$name\\n\"; }\n"
        . "        location /w {\n$slow        }\n";
    $loc .= "        location /close { return 444; }\n" if $close;
    return backend($name, $loc);
};

restart(<<'EOF' . $random_b->('b1', 1) . $random_b->('b2'), workers => 2);
    upstream u {
        zone z 1m;
        random;
        server 127.0.0.1:%%PORT_b1%%;
        server 127.0.0.1:%%PORT_b2%%;
        server 127.0.0.1:%%PORT_b3%% down;
        cluster zone=rnd_u:1m;
    }

    upstream lc {
        zone lc 1m;
        cluster zone=rnd_lc:1m;
        random two;
        server 127.0.0.1:%%PORT_b1%%;
        server 127.0.0.1:%%PORT_b2%%;
    }

    upstream w {
        zone w 1m;
        random two least_conn;
        cluster zone=rnd_w:1m;
        server 127.0.0.1:%%PORT_b1%%;
        server 127.0.0.1:%%PORT_b2%% weight=2;
    }

    upstream mc {
        zone mc 1m;
        cluster zone=rnd_mc:1m;
        random;
        server 127.0.0.1:%%PORT_b1%% max_conns=2;
        server 127.0.0.1:%%PORT_b2%% max_conns=1;
    }

    upstream mc2 {
        zone mc 1m;
        random two;
        cluster zone=rnd_mc2:1m;
        server 127.0.0.1:%%PORT_b1%% max_conns=2;
        server 127.0.0.1:%%PORT_b2%% max_conns=1;
    }

    upstream one {
        cluster zone=rnd_one:1m;
        random;
        server 127.0.0.1:%%PORT_b1%%;
    }

    upstream two {
        cluster zone=rnd_two:1m;
        random two;
        server 127.0.0.1:%%PORT_b1%%;
    }

    upstream zone {
        zone z 1m;
        random;
        cluster zone=rnd_zone:1m;
        server 127.0.0.1:%%PORT_b1%%;
    }

    upstream ztwo {
        zone z 1m;
        random two;
        cluster zone=rnd_ztwo:1m;
        server 127.0.0.1:%%PORT_b1%%;
    }

    server {
        listen 127.0.0.1:%%PORT_http%%;

        location /cluster { cluster_status; }

        location /u/    { proxy_pass http://u/; }
        location /lc/   { proxy_pass http://lc/; }
        location /w/    { proxy_pass http://w/; }
        location /mc/   { proxy_pass http://mc/; }
        location /mc2/  { proxy_pass http://mc2/; }
        location /one/  { proxy_pass http://one/; }
        location /two/  { proxy_pass http://two/; }
        location /zone/ { proxy_pass http://zone/; }
        location /ztwo/ { proxy_pass http://ztwo/; }
    }
EOF

like(who($t->get('/u/')) // '', qr/^b[12]$/, 'random: b1 or b2, never down b3');
like(who($t->get('/lc/')) // '', qr/^b[12]$/, 'random two: b1 or b2');

# random two of two: the one busy with a slow request gets nothing new
{
    my $s = send_get('/lc/w');
    sleep 0.5;
    my $next = who($t->get('/lc/'));
    my $busy = header_of($s);
    close $s;
    ok($busy && $next && $next ne $busy,
       'random two: the other than the busy one')
        or diag 'busy ' . ($busy // '?') . ', next ' . ($next // '?');
}

# in nginx-tests these three run only with TEST_NGINX_UNSAFE, as they wait
# for slow answers; here the test does not wait for the end of those
is_deeply(parallel('/w/w', 3, 0.1), { b1 => 1, b2 => 2 },
          'random two least_conn: by connections per weight');
is_deeply(parallel('/mc/w', 4, 0.1), { b1 => 2, b2 => 1 },
          'random: max_conns');
is_deeply(parallel('/mc2/w', 4, 0.1), { b1 => 2, b2 => 1 },
          'random two: max_conns');

is(who($t->get('/one/')), 'b1', 'random: one server');
is(who($t->get('/two/')), 'b1', 'random two: one server');
is(who($t->get('/zone/')), 'b1', 'random with zone: one server');
is(who($t->get('/ztwo/')), 'b1', 'random two with zone: one server');

# b1 closes /close unanswered: each request is tried again on b2. (b1's
# failures are the cluster's too, and would take it out after fall=3;
# nginx's max_fails=1 takes it out first, and the outcome is the same.)
is_deeply(many('/u/close', 10), { b2 => 10 }, 'random: a failing backend');
is_deeply(many('/lc/close', 10), { b2 => 10 },
          'random two: a failing backend');

counted('random', qw(u lc w mc mc2 one two zone ztwo));

###############################################################################
# upstream_max_conns.t: max_conns under round robin (with backup servers,
# weights, a server twice, proxy_next_upstream), least_conn, ip_hash, hash

my $mc_b = sub {
    my ($name) = @_;
    return backend($name, "        location / {\n$slow        }\n"
                          . "        location /close { return 200; }\n");
};

my %upstreams = (
    # round robin: cluster before the servers or after them
    u_unlim => [ 'before', 'b1 max_conns=0', 'b2' ],
    u_lim => [ 'after', 'b1 max_conns=3' ],
    u_backup => [ 'before', 'b1 max_conns=2', 'b2 backup' ],
    u_backup_lim => [ 'after', 'b1 max_conns=2', 'b2 backup max_conns=3' ],
    u_two => [ 'before', 'b1 max_conns=1', 'b2 max_conns=1' ],
    u_some => [ 'after', 'b1 max_conns=1', 'b2' ],
    u_many => [ 'before', 'b1 max_conns=1', 'b1 max_conns=1', 'b2' ],
    u_weight => [ 'after', 'b1 weight=2 max_conns=1', 'b2' ],
    # b4 closes the connection: the next server is tried
    u_pnu => [ 'before', 'b4', 'b1 max_conns=1', 'b2 max_conns=2' ],

    u_lc => [ 'after least_conn;', 'b1 max_conns=1', 'b2' ],
    u_lc_backup => [ 'before least_conn;', 'b1 max_conns=2', 'b2 backup' ],
    u_lc_backup_lim => [ 'after least_conn;', 'b1 max_conns=2',
                         'b2 backup max_conns=3' ],

    u_ih => [ 'before ip_hash;', 'b1 max_conns=1', 'b2 max_conns=2' ],

    u_hash => [ 'after hash $remote_addr;', 'b1 max_conns=1',
                'b2 max_conns=2' ],
    u_chash => [ 'before hash $remote_addr consistent;', 'b1 max_conns=1',
                 'b2 max_conns=2' ],
);

my $mc_conf = '';
for my $name (sort keys %upstreams) {
    my ($where, @servers) = @{$upstreams{$name}};
    my ($order, $method) = $where =~ /^(\w+)\s*(.*)$/;

    my $cluster = "        cluster zone=mc_$name:1m;\n";
    my $body = $method ? "        $method\n" : '';
    $body = $order eq 'before' ? $cluster . $body : $body . $cluster;

    my $list = join '', map { /^(b\d)(.*)$/;
                              "        server 127.0.0.1:%%PORT_$1%%$2;\n" }
                        @servers;

    # under round robin, "before" and "after" are around the servers
    $mc_conf .= "    upstream $name {\n"
        . (($order eq 'after' || $method) ? $list : '')
        . $body
        . (($order eq 'before' && !$method) ? $list : '')
        . "    }\n\n";
}

restart($mc_conf . <<'EOF' . $mc_b->('b1') . $mc_b->('b2'), workers => 1);
    server {
        listen 127.0.0.1:%%PORT_b4%%;
        return 444;
    }

    server {
        listen 127.0.0.1:%%PORT_http%%;

        location /cluster { cluster_status; }

        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_buffering off;

        location ~ ^/(u_\w+)(/.*)$ {
            proxy_pass http://$1$2;
        }
    }
EOF

is_deeply(parallel('/u_unlim/', 4), { b1 => 2, b2 => 2 },
          'round robin: max_conns=0 is no limit');

# b1 takes 3; one of 3 closed leaves room for another
{
    my @s = map { send_get('/u_lim/') } 1 .. 2;
    IO::Select->new($_)->can_read(1.1) for @s;
    is(who($t->get('/u_lim/close')), 'b1', 'round robin: a third, closed');
    push @s, send_get('/u_lim/');
    my $held = tally(map { header_of($_) } @s);
    close $_ for @s;
    is_deeply($held, { b1 => 3 },
              'round robin: a closed connection is counted off');
    sleep 0.3;
}

is_deeply(parallel('/u_lim/', 4), { b1 => 3 }, 'round robin: max_conns');

is(in_order('/u_backup/', 6), 'b1 b1 b2 b2 b2 b2',
   'round robin: the backup when max_conns is reached');
is(in_order('/u_backup_lim/', 6), 'b1 b1 b2 b2 b2 -',
   'round robin: the backup, limited too');

is_deeply(parallel('/u_two/', 4), { b1 => 1, b2 => 1 },
          'round robin: every server limited');
is_deeply(parallel('/u_some/', 4), { b1 => 1, b2 => 3 },
          'round robin: some servers limited');
is_deeply(parallel('/u_weight/', 4), { b1 => 1, b2 => 3 },
          'round robin: weight does not raise max_conns');
is_deeply(parallel('/u_many/', 6), { b1 => 2, b2 => 4 },
          'round robin: a server twice, its lines\' max_conns add up');

# b4's failures: nginx's max_fails=1 keeps it out after the first, so the
# cluster (fall=3) does not call it down; the try after it counts
is_deeply(parallel('/u_pnu/', 4), { b1 => 1, b2 => 2 },
          'round robin: a connection of proxy_next_upstream counts');

is_deeply(parallel('/u_lc/', 4), { b1 => 1, b2 => 3 }, 'least_conn: max_conns');
is(in_order('/u_lc_backup/', 6), 'b1 b1 b2 b2 b2 b2',
   'least_conn: the backup when max_conns is reached');
is(in_order('/u_lc_backup_lim/', 6), 'b1 b1 b2 b2 b2 -',
   'least_conn: the backup, limited too');

is_deeply(parallel('/u_ih/', 4), { b1 => 1, b2 => 2 }, 'ip_hash: max_conns');
is_deeply(parallel('/u_hash/', 4), { b1 => 1, b2 => 2 }, 'hash: max_conns');
is_deeply(parallel('/u_chash/', 4), { b1 => 1, b2 => 2 },
          'consistent hash: max_conns');

counted('max_conns', sort keys %upstreams);

$t->stop;

$t->check_logs;

done_testing;
