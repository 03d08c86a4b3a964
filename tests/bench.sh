#!/usr/bin/env bash
# make bench: throughput and p99 latency of nginx balancing with the cluster
# module against the same nginx balancing with plain round robin, over the
# same three static backends, measured in one run: interleaved, repeated,
# medians reported.
#
# BENCH_ROUNDS (7), BENCH_SECONDS (5), BENCH_CONNECTIONS (50) tune the run.

set -euo pipefail

: "${CLUSTER_MODULE:?run it with make bench}"
NGINX_BIN=${NGINX_BIN:-/usr/sbin/nginx}
rounds=${BENCH_ROUNDS:-7}
seconds=${BENCH_SECONDS:-5}
connections=${BENCH_CONNECTIONS:-50}

. "$(dirname "$0")/bench_lib.sh" bench

b1=$(free_port); b2=$(free_port); b3=$(free_port)
cluster_port=$(free_port); plain_port=$(free_port)

# the backends: static answers, on the other core, never the bottleneck
start_backends "$b1" "$b2" "$b3"

# the front: one worker, on its own core; two upstreams alike but for the
# balancer
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
    access_log off;
    $temp_paths
    keepalive_requests 100000;

    upstream with_cluster {
        server 127.0.0.1:$b1;
        server 127.0.0.1:$b2;
        server 127.0.0.1:$b3;

        cluster zone=bench:1m;
        keepalive 64;
    }

    upstream round_robin {
        server 127.0.0.1:$b1;
        server 127.0.0.1:$b2;
        server 127.0.0.1:$b3;

        keepalive 64;
    }

    proxy_http_version 1.1;
    proxy_set_header Connection "";

    server {
        listen 127.0.0.1:$cluster_port;
        location / { proxy_pass http://with_cluster; }
        location /cluster { cluster_status; }
    }

    server {
        listen 127.0.0.1:$plain_port;
        location / { proxy_pass http://round_robin; }
    }
}
CONF

"$NGINX_BIN" -p "$dir/" -c "$dir/front.conf" -e "$dir/front.log"
sleep 0.5

echo "bench: $rounds rounds of ${seconds}s, $connections connections, one" \
     "nginx worker on core 0, wrk and the backends on core 1"

measure "$plain_port" >/dev/null    # warm up both paths
measure "$cluster_port" >/dev/null

plain=()
cluster=()

for round in $(seq "$rounds"); do
    # alternate which goes first, so that drift favours neither
    if [ $((round % 2)) -eq 1 ]; then
        p=$(measure "$plain_port"); c=$(measure "$cluster_port")
    else
        c=$(measure "$cluster_port"); p=$(measure "$plain_port")
    fi

    plain+=("$p")
    cluster+=("$c")

    printf "round %d: round robin %s req/s p99 %s ms; cluster %s req/s p99 %s ms\n" \
        "$round" ${p% *} ${p#* } ${c% *} ${c#* }
done

printf '%s\n' "${plain[@]}" > "$dir/plain"
printf '%s\n' "${cluster[@]}" > "$dir/cluster"

perl -e '
    sub median { my @v = sort { $a <=> $b } @_; my $n = @v;
                 $n % 2 ? $v[$n / 2] : ($v[$n / 2 - 1] + $v[$n / 2]) / 2 }
    sub load { open my $fh, "<", shift or die; map { [split] } <$fh> }
    my @p = load($ARGV[0]);
    my @c = load($ARGV[1]);
    my $prps = median(map { $_->[0] } @p);
    my $crps = median(map { $_->[0] } @c);
    my @ratios = map { $c[$_][0] / $p[$_][0] } 0 .. $#p;
    printf "\nmedian throughput: round robin %.0f req/s, cluster %.0f req/s\n",
        $prps, $crps;
    printf "median p99 latency: round robin %.3f ms, cluster %.3f ms\n",
        median(map { $_->[1] } @p), median(map { $_->[1] } @c);
    printf "throughput ratio cluster / round robin: %.3f"
        . " (median of per-round ratios %.3f, range %.3f to %.3f)\n",
        $crps / $prps, median(@ratios),
        (sort { $a <=> $b } @ratios)[0], (sort { $a <=> $b } @ratios)[-1];
' "$dir/plain" "$dir/cluster"

curl -s "http://127.0.0.1:$cluster_port/cluster" | perl -MJSON::PP -e '
    my $c = decode_json(join "", <STDIN>)->{clusters}[0];
    my $n = 0; $n += $_->{web}{requests} for @{$c->{nodes}};
    printf "the cluster recorded %d proxied responses, %d nodes in rotation\n",
        $n, $c->{nodes_in_rotation};'
