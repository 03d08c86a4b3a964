#!/usr/bin/perl

# The zone keeps each node's state across "nginx -s reload", found by
# upstream and address: servers added, removed and reordered keep what is
# theirs, and the same address in two upstreams keeps two records.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use ClusterTest;

my $t = ClusterTest->new(workers => 1);

$t->sim($_) for qw(web1 web2 web3 web4);

my $status = <<'EOF';
    server {
        listen 127.0.0.1:%%PORT_http%%;

        location / {
            proxy_pass http://proget;
        }

        location /other {
            proxy_pass http://other;
        }

        location /cluster {
            cluster_status;
        }
    }
EOF

$t->write_config(<<"EOF");
    upstream proget {
        server 127.0.0.1:%%PORT_web1%%;
        server 127.0.0.1:%%PORT_web2%% max_fails=0;
        server 127.0.0.1:%%PORT_web3%%;

        cluster zone=shared:1m;
    }

    upstream other {
        server 127.0.0.1:%%PORT_web1%%;

        cluster zone=shared:1m;
    }
$status
EOF

$t->run;

my %addr = map { $_ => '127.0.0.1:' . $t->port($_) } qw(web1 web2 web3 web4);

$t->spread(9);
$t->get('/other') for 1 .. 2;

sub requests {
    my ($cluster) = @_;
    my $c = $t->cluster($cluster);
    return { map { $_->{id} => $_->{web}{requests} } @{$c->{nodes}} };
}

is_deeply(requests('proget'),
          { $addr{web1} => 3, $addr{web2} => 3, $addr{web3} => 3 },
          'three requests each');
is_deeply(requests('other'), { $addr{web1} => 2 },
          'the same address in another upstream has its own record');

# reorder, remove web1, add web4
$t->write_config(<<"EOF");
    upstream proget {
        server 127.0.0.1:%%PORT_web4%%;
        server 127.0.0.1:%%PORT_web3%%;
        server 127.0.0.1:%%PORT_web2%% max_fails=0;

        cluster zone=shared:1m;
    }

    upstream other {
        server 127.0.0.1:%%PORT_web1%%;

        cluster zone=shared:1m;
    }
$status
EOF

$t->reload;

is_deeply(requests('proget'),
          { $addr{web4} => 0, $addr{web3} => 3, $addr{web2} => 3 },
          'after a reload that reorders, removes and adds: state kept by address');
is_deeply(requests('other'), { $addr{web1} => 2 }, 'the other upstream too');
is($t->node('proget', $addr{web4})->{state}, 'checking',
   'the added node starts as checking');

$t->spread(3);
is_deeply(requests('proget'),
          { $addr{web4} => 1, $addr{web3} => 4, $addr{web2} => 4 },
          'and the new order balances');

# a node out of rotation stays out across a reload
$t->stop_sim('web2');
$t->spread(12);
is($t->node('proget', $addr{web2})->{state}, 'down', 'web2 down');

$t->reload;

is($t->node('proget', $addr{web2})->{state}, 'down', 'still down after reload');
is($t->node('proget', $addr{web2})->{in_rotation}, JSON::PP::false,
   'still out of rotation');

# a server that comes back into the configuration finds its record
$t->write_config(<<"EOF");
    upstream proget {
        server 127.0.0.1:%%PORT_web1%%;
        server 127.0.0.1:%%PORT_web3%%;

        cluster zone=shared:1m;
    }

    upstream other {
        server 127.0.0.1:%%PORT_web1%%;

        cluster zone=shared:1m;
    }
$status
EOF

my $web3 = requests('proget')->{$addr{web3}};

$t->reload;

is_deeply(requests('proget'), { $addr{web1} => 3, $addr{web3} => $web3 },
          'a server back in the configuration finds its old record');

$t->check_logs;

done_testing;
