# Shared by make demo and make demo-haproxy: users signing in and browsing
# through the load balancer on $port, and the status summed up in a table.
#
#   . tests/demo_lib.sh

# users: each signs in, then opens three pages
traffic() {
    local i j cookie
    for i in $(seq "$1"); do
        cookie=$(curl -s -m 5 -o /dev/null -D - \
                     "http://127.0.0.1:$port/log-in" \
                 | sed -n 's/^Set-Cookie: \([^;]*\);.*/\1/p') || true
        for j in 1 2 3; do
            curl -s -m 5 -o /dev/null -H "Cookie: $cookie" \
                "http://127.0.0.1:$port/feeds/" || true
        done
    done
}

summary() {
    curl -s -m 5 "http://127.0.0.1:$port/cluster" | perl -MJSON::PP -e '
        my $doc = decode_json(join "", <STDIN>);
        for my $c (@{$doc->{clusters}}) {
            printf "cluster %s, release %s: %d of %d nodes in rotation%s\n",
                $c->{name}, $c->{release} // "unknown",
                $c->{nodes_in_rotation}, $c->{settings}{servers},
                $c->{panic} ? ", PANIC" : "";
            printf "  %-19s %-6s %-9s %-17s %-8s %-8s %-9s %-4s %8s  %s\n",
                "node", "name", "state", "rotation", "release", "service",
                "messenger", "key", "requests", "heartbeat";
            for my $n (@{$c->{nodes}}) {
                my $age = $n->{web}{heartbeat_age_s};
                my $v = $n->{version};
                my $k = $n->{encryption_key}{in_sync};
                printf "  %-19s %-6s %-9s %-17s %-8s %-8s %-9s %-4s %8d  %s\n",
                    $n->{id}, $n->{name}, $n->{state},
                    $n->{in_rotation} ? "in"
                        : "out:" . join(",", @{$n->{reasons}}),
                    ($v->{release} // "?")
                        . (defined $v->{in_sync} && !$v->{in_sync} ? "!" : ""),
                    $n->{service}{status}, $n->{service}{messenger},
                    !defined $k ? "?" : $k ? "ok" : "BAD",
                    $n->{web}{requests},
                    defined $age ? sprintf("%.1f s ago", $age) : "never";
            }
            for my $n (grep { @{$_->{hints}} } @{$c->{nodes}}) {
                print "  $n->{name}: $_\n" for @{$n->{hints}};
            }
        }'
}

