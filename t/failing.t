#!/usr/bin/perl

# A node whose last tries failed shows at once: with nginx's own max_fails
# (1 by default), nginx sends it nothing for fail_timeout after its first
# failure, so it is far from "fall" failures in a row, yet its Web
# component is "warning", with the count, not "ok".

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use ClusterTest;

my $t = ClusterTest->new(workers => 1);

$t->sim($_) for qw(web1 web2);

$t->write_config(<<'EOF');
    upstream proget {
        server 127.0.0.1:%%PORT_web1%%;
        server 127.0.0.1:%%PORT_web2%%;

        cluster zone=failing:1m;
    }

    server {
        listen 127.0.0.1:%%PORT_http%%;
        location / { proxy_pass http://proget; }
        location /cluster { cluster_status; }
    }
EOF

$t->run;

my $web2 = '127.0.0.1:' . $t->port('web2');

$t->spread(4);
is($t->node('proget', $web2)->{web}{status}, 'ok', 'both answer: ok');

$t->stop_sim('web2');

my $seen = $t->spread(6);
ok(!grep({ /status/ } keys %$seen), 'users see no error')
    or diag explain $seen;

my $n = $t->node('proget', $web2);
is($n->{state}, 'up', 'one failure is not down');
is($n->{web}{status}, 'warning', 'but the Web component is a warning');
is($n->{web}{failures_in_a_row}, 1, '  of one failure in a row');
is($n->{web}{fall}, 3, '  of the three that make it down');

my $page = $t->get('/cluster', Accept => 'text/html')->{body};
like($page, qr/1 of 3 failed in a row/, 'the page says so too');

$t->check_logs;

done_testing;
