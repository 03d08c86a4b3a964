#!/usr/bin/env bash
# make bench, the key check: throughput of nginx balancing requests that
# carry a valid auth cookie, through the cluster with the key checks on
# (cluster_key, cluster_cookie, $cluster_key_check in the access log) and
# off (the same upstream without them, the same log), and through plain
# round robin, measured in one run: interleaved, repeated, medians.
#
# BENCH_ROUNDS (7), BENCH_SECONDS (5), BENCH_CONNECTIONS (50) tune the run.

set -euo pipefail

: "${CLUSTER_MODULE:?run it with make bench}"
: "${CLUSTER_SIM:?run it with make bench}"
NGINX_BIN=${NGINX_BIN:-/usr/sbin/nginx}
rounds=${BENCH_ROUNDS:-7}
seconds=${BENCH_SECONDS:-5}
connections=${BENCH_CONNECTIONS:-50}

. "$(dirname "$0")/bench_lib.sh" bench-key

b1=$(free_port); b2=$(free_port); b3=$(free_port)
on_port=$(free_port); off_port=$(free_port); plain_port=$(free_port)
sim_port=$(free_port)

# the cluster's key, in a file of the run's, never printed; a node of the
# simulator mints one auth cookie with it
head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$dir/key"
chmod 600 "$dir/key"

"$CLUSTER_SIM" --name minter --port "$sim_port" --key-file "$dir/key" \
    >"$dir/sim.log" 2>&1 &
sims+=($!)

for _ in $(seq 50); do
    cookie=$(curl -s -m 2 -o /dev/null -D - "http://127.0.0.1:$sim_port/log-in" \
             | sed -n 's/^Set-Cookie: \([^;]*\);.*/\1/p') || true
    [ -n "${cookie:-}" ] && break
    sleep 0.1
done

[ -n "${cookie:-}" ] || { echo "bench-key: no cookie minted" >&2; exit 1; }

start_backends "$b1" "$b2" "$b3"

upstream() {
    cat <<UPSTREAM
    upstream $1 {
        server 127.0.0.1:$b1;
        server 127.0.0.1:$b2;
        server 127.0.0.1:$b3;

        $2
        keepalive 64;
    }
UPSTREAM
}

cat > "$dir/front.conf" <<CONF
load_module $CLUSTER_MODULE;

pid $dir/front.pid;
error_log $dir/front.log warn;
worker_processes 1;
worker_cpu_affinity 01;

events {
    worker_connections 4096;
}

http {
    $temp_paths
    keepalive_requests 100000;

    log_format keys '\$status \$cluster_node \$cluster_key_check';

$(upstream key_on "cluster zone=on:1m;
        cluster_key file=$dir/key;
        cluster_cookie name=^\\.ProGetAuth\$ login=^/log-in;")
$(upstream key_off "cluster zone=off:1m;")
$(upstream round_robin "")

    proxy_http_version 1.1;
    proxy_set_header Connection "";

    server {
        listen 127.0.0.1:$on_port;
        access_log $dir/on.log keys buffer=256k;
        location / { proxy_pass http://key_on; }
    }

    server {
        listen 127.0.0.1:$off_port;
        access_log $dir/off.log keys buffer=256k;
        location / { proxy_pass http://key_off; }
    }

    server {
        listen 127.0.0.1:$plain_port;
        access_log $dir/plain.log keys buffer=256k;
        location / { proxy_pass http://round_robin; }
    }
}
CONF

"$NGINX_BIN" -p "$dir/" -c "$dir/front.conf" -e "$dir/front.log"
sleep 0.5

header=(-H "Cookie: theme=dark; $cookie; lang=en")

echo "bench-key: $rounds rounds of ${seconds}s, $connections connections," \
     "requests with a valid auth cookie among others"

for port in "$plain_port" "$off_port" "$on_port"; do
    measure "$port" "${header[@]}" >/dev/null    # warm up
done

: > "$dir/results"

for round in $(seq "$rounds"); do
    # rotate which goes first, so that drift favours none
    ports=("$plain_port" "$off_port" "$on_port")
    names=(plain off on)
    line="round $round:"
    for i in 0 1 2; do
        j=$(( (i + round) % 3 ))
        r=$(measure "${ports[$j]}" "${header[@]}")
        echo "${names[$j]} $r" >> "$dir/results"
        line="$line ${names[$j]} ${r% *} req/s p99 ${r#* } ms;"
    done
    echo "$line"
done

perl -e '
    sub median { my @v = sort { $a <=> $b } @_; my $n = @v;
                 $n % 2 ? $v[$n / 2] : ($v[$n / 2 - 1] + $v[$n / 2]) / 2 }
    my (%rps, %p99);
    open my $fh, "<", $ARGV[0] or die;
    while (<$fh>) {
        my ($name, $r, $p) = split;
        push @{$rps{$name}}, $r;
        push @{$p99{$name}}, $p;
    }
    my %m = map { $_ => median(@{$rps{$_}}) } keys %rps;
    my @ratios = map { $rps{on}[$_] / $rps{off}[$_] } 0 .. $#{$rps{on}};
    printf "\nmedian throughput: round robin %.0f, cluster, key check off"
        . " %.0f, on %.0f req/s\n", $m{plain}, $m{off}, $m{on};
    printf "median p99 latency: round robin %.3f, off %.3f, on %.3f ms\n",
        map { median(@{$p99{$_}}) } qw(plain off on);
    printf "throughput ratio key check on / off: %.3f (median of per-round"
        . " ratios %.3f, range %.3f to %.3f)\n", $m{on} / $m{off},
        median(@ratios), (sort { $a <=> $b } @ratios)[0],
        (sort { $a <=> $b } @ratios)[-1];
    printf "throughput ratio key check on / round robin: %.3f\n",
        $m{on} / $m{plain};
' "$dir/results"

kill -USR1 "$(cat "$dir/front.pid")"    # flush the access logs
sleep 0.5
printf 'the access log of the check says: %s\n' \
    "$(awk '{ print $3 }' "$dir/on.log" | sort | uniq -c | tr -s ' ' | tr '\n' ';')"
