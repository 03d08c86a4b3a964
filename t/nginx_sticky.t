#!/usr/bin/perl

# nginx's "sticky" (1.29.6), redone with "cluster" in every upstream: the
# cases of nginx-tests' upstream_sticky.t, upstream_sticky_route.t,
# upstream_sticky_learn.t, upstream_sticky_learn_header.t and
# upstream_sticky_drain.t that a cluster changes, written for this
# harness. A sticky session stays on its node while the node is in
# rotation; when the cluster takes the node out (here, an operator's
# drain), the session goes elsewhere, as nginx's own sticky does for a
# server that is down, and sticky binds it there (a new cookie, a new
# learned session); a route or an old cookie that names the node comes
# back to it once it is back. "learn ... header" has sticky hear of the
# answer's header through peer.notify, which the cluster passes on, also
# through keepalive (on by default since 1.29.7, explicit here too): with
# it wrapped wrongly every request crashed a worker.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use ClusterTest;

my $t = ClusterTest->new(workers => 1);

$t->need_nginx('1.29.6', 'sticky');

my $token = 'a-token-for-the-sticky-test-0123';
$t->secret('token', $token);

$t->sim($_) for qw(web1 web2 web3);

my %addr = map { $_ => '127.0.0.1:' . $t->port($_) } qw(web1 web2 web3);

$t->write_config(<<'EOF');
    upstream sticky_cookie {
        server 127.0.0.1:%%PORT_web1%%;
        server 127.0.0.1:%%PORT_web2%%;
        sticky cookie srv_id;
        cluster zone=sticky_cookie:1m;
    }

    upstream sticky_route {
        cluster zone=sticky_route:1m;
        server 127.0.0.1:%%PORT_web1%% route=a;
        server 127.0.0.1:%%PORT_web2%% route=b;
        sticky route $arg_route;
    }

    upstream sticky_learn {
        server 127.0.0.1:%%PORT_web1%%;
        server 127.0.0.1:%%PORT_web2%%;
        sticky learn create=$upstream_http_x_node lookup=$arg_node
                     zone=sessions:1m header;
        keepalive 4;
        cluster zone=sticky_learn:1m;
    }

    upstream sticky_drain {
        server 127.0.0.1:%%PORT_web1%% route=a;
        server 127.0.0.1:%%PORT_web2%% route=b;
        server 127.0.0.1:%%PORT_web3%% route=c drain;
        sticky route $arg_route;
        cluster zone=sticky_drain:1m;
    }

    server {
        listen 127.0.0.1:%%PORT_http%%;

        proxy_http_version 1.1;
        proxy_set_header Connection "";

        location /c/ { proxy_pass http://sticky_cookie/; }
        location /r/ { proxy_pass http://sticky_route/; }
        location /l/ { proxy_pass http://sticky_learn/; }
        location /d/ { proxy_pass http://sticky_drain/; }

        location /cluster {
            cluster_status admin=on token_file=%%DIR%%/token;
        }
    }
EOF

$t->run;

sub act {
    my ($what, $node, $cluster) = @_;
    return $t->act($what, $addr{$node}, $cluster, $token);
}

# { node => count } of $n requests, with %headers
sub serve {
    my ($path, $n, %headers) = @_;
    my %seen;
    for (1 .. $n) {
        my $r = $t->get($path, %headers);
        $seen{$r->{status} == 200 ? $r->{headers}{'x-node'}
                                  : "status $r->{status}"}++;
    }
    return \%seen;
}

sub other { $_[0] eq 'web1' ? 'web2' : 'web1' }

# sticky cookie: the first answer binds the session, the cookie keeps it

my $r = $t->get('/c/');
my $first = $r->{headers}{'x-node'};
my ($cookie) = ($r->{headers}{'set-cookie'} // '') =~ /^(srv_id=[^;]+)/;
ok($cookie, "sticky cookie: the first answer sets the cookie ($first)");

is_deeply(serve('/c/', 6, Cookie => $cookie), { $first => 6 },
          'the cookie keeps the session on its node');

is(act('drain', $first, 'sticky_cookie'), 200, "$first drained");

my $second = other($first);
$r = $t->get('/c/', Cookie => $cookie);
is($r->{headers}{'x-node'}, $second,
   'drained: the session goes to the other node');
my ($moved) = ($r->{headers}{'set-cookie'} // '') =~ /^(srv_id=[^;]+)/;
ok($moved && $moved ne $cookie, '  and sticky binds it there');
is_deeply(serve('/c/', 6, Cookie => $cookie), { $second => 6 },
          '  every request of it, no error');

is(act('restore', $first, 'sticky_cookie'), 200, "$first restored");
is_deeply(serve('/c/', 4, Cookie => $moved), { $second => 4 },
          'back: the session bound to the other node stays there');
ok($t->wait_for(sub { serve('/c/', 1, Cookie => $cookie)->{$first} }, 5),
   '  the old cookie names the node again');

# sticky route: the route chooses, the cluster overrules

is_deeply(serve('/r/?route=a', 4), { web1 => 4 }, 'sticky route a: web1');
is_deeply(serve('/r/?route=b', 4), { web2 => 4 }, 'sticky route b: web2');
is(act('drain', 'web1', 'sticky_route'), 200, 'web1 drained');
is_deeply(serve('/r/?route=a', 4), { web2 => 4 },
          'route a goes to web2 while web1 is out');
is(act('restore', 'web1', 'sticky_route'), 200, 'web1 restored');
ok($t->wait_for(sub { serve('/r/?route=a', 1)->{web1} }, 5),
   'route a back on web1');

# sticky learn, after the header: sessions learned from X-Node

$r = $t->get('/l/');
my $learned = $r->{headers}{'x-node'};
is($r->{status}, 200, "sticky learn: answered by $learned");
is_deeply(serve("/l/?node=$learned", 6), { $learned => 6 },
          'the learned session stays on its node');
is(act('drain', $learned, 'sticky_learn'), 200, "$learned drained");
is_deeply(serve("/l/?node=$learned", 4), { other($learned) => 4 },
          'drained: the session goes elsewhere');
is(act('restore', $learned, 'sticky_learn'), 200, "$learned restored");

# "drain" of a server (1.29.6): only its own sessions reach it

my $seen = serve('/d/', 12);
ok(!$seen->{web3}, 'a server with "drain" gets no new session')
    or diag explain $seen;
is_deeply(serve('/d/?route=c', 4), { web3 => 4 },
          '  its own sessions still reach it');
is(act('drain', 'web3', 'sticky_drain'), 200, 'web3 drained by the cluster');
$seen = serve('/d/?route=c', 6);
ok(!$seen->{web3} && !grep({ /status/ } keys %$seen),
   '  then its sessions go elsewhere, with no error')
    or diag explain $seen;

# every cluster steered its method, nothing crashed

is($t->count_log(qr/cannot steer/), 0, 'every sticky upstream is steered');

$t->check_logs;

done_testing;
