#!/usr/bin/env bash
# make demo: three simulated Inedo web nodes behind nginx with the cluster
# module, on loopback; some traffic, one node stopped, and the status.
#
# DEMO_PORT (8080) is nginx's port, DEMO_NODE_PORT (18601) the first node's;
# DEMO_SECONDS, when set, ends the demo by itself after that many seconds.

set -euo pipefail

: "${CLUSTER_MODULE:?run it with make demo}"
: "${CLUSTER_SIM:?run it with make demo}"
NGINX_BIN=${NGINX_BIN:-/usr/sbin/nginx}
port=${DEMO_PORT:-8080}
node_port=${DEMO_NODE_PORT:-18601}

dir=$(mktemp -d -t cluster-demo-XXXXXX)
chmod 755 "$dir"

pids=()

stop() {
    trap - EXIT INT TERM
    [ -f "$dir/nginx.pid" ] && kill -QUIT "$(cat "$dir/nginx.pid")" 2>/dev/null
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    rm -rf "$dir"
    echo
    echo "demo: stopped nginx and the simulated nodes"
}

trap stop EXIT
trap 'exit 0' INT TERM

in_use() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

for p in "$port" $((node_port)) $((node_port + 1)) $((node_port + 2)); do
    if in_use "$p"; then
        echo "demo: port $p is in use; set DEMO_PORT or DEMO_NODE_PORT" >&2
        exit 1
    fi
done

start_node() {
    "$CLUSTER_SIM" --name "$1" --port "$2" --version "$3" --health "$4" \
        >>"$dir/sim.log" 2>&1 &
    pids+=($!)
    echo "$!" > "$dir/$1.pid"
}

start_node web1 $((node_port)) 23.0.27 json2025
start_node web2 $((node_port + 1)) 23.0.27 text2026
start_node web3 $((node_port + 2)) 23.0.27 json2025

cat > "$dir/nginx.conf" <<CONF
load_module $CLUSTER_MODULE;

pid $dir/nginx.pid;
error_log $dir/error.log notice;
worker_processes 2;

events {
    worker_connections 1024;
}

http {
    access_log off;
    client_body_temp_path $dir/client_body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;

    upstream proget {
        server 127.0.0.1:$((node_port)) max_fails=0;
        server 127.0.0.1:$((node_port + 1)) max_fails=0;
        server 127.0.0.1:$((node_port + 2)) max_fails=0;

        cluster zone=proget_cluster:1m;
        cluster_heartbeat interval=5s stale=1m;
        cluster_eject stale down;
    }

    server {
        listen 127.0.0.1:$port;

        location / {
            proxy_pass http://proget;
        }

        location /cluster {
            cluster_status;
            allow 127.0.0.1;
            deny all;
        }
    }
}
CONF

preload=()
if [ "${CLUSTER_SANITIZE:-0}" = 1 ]; then
    # a module built with the sanitizers needs their runtime loaded first
    preload=(env "LD_PRELOAD=$(cc -print-file-name=libasan.so)"
             ASAN_OPTIONS=detect_leaks=0)
fi

"${preload[@]}" "$NGINX_BIN" -p "$dir/" -c "$dir/nginx.conf" -e "$dir/error.log"

for _ in $(seq 50); do
    in_use "$port" && break
    sleep 0.1
done

traffic() {
    local i
    for i in $(seq "$1"); do
        curl -s -o /dev/null "http://127.0.0.1:$port/feeds/" || true
    done
}

summary() {
    curl -s "http://127.0.0.1:$port/cluster" | perl -MJSON::PP -e '
        my $doc = decode_json(join "", <STDIN>);
        for my $c (@{$doc->{clusters}}) {
            printf "cluster %s: %d of %d nodes in rotation%s\n",
                $c->{name}, $c->{nodes_in_rotation},
                $c->{settings}{servers}, $c->{panic} ? ", PANIC" : "";
            printf "  %-18s %-9s %-12s %8s %8s  %s\n", "node", "state",
                "in rotation", "requests", "failures", "last heartbeat";
            for my $n (@{$c->{nodes}}) {
                my $age = $n->{web}{heartbeat_age_s};
                printf "  %-18s %-9s %-12s %8d %8d  %s\n", $n->{id},
                    $n->{state},
                    $n->{in_rotation} ? "yes"
                        : "no (" . join(",", @{$n->{reasons}}) . ")",
                    $n->{web}{requests}, $n->{web}{failures},
                    defined $age ? sprintf("%.1f s ago", $age) : "never";
            }
        }'
}

echo "demo: three nodes behind nginx; sending 30 requests"
traffic 30
summary

echo
echo "demo: stopping web3 and sending 20 more requests"
kill "$(cat "$dir/web3.pid")"
traffic 20
summary

echo
echo "demo: the status is at http://127.0.0.1:$port/cluster (JSON)"
echo "demo: what nginx logged of the cluster:"
grep -o 'cluster "proget".*findings: [a-z_ ]*' "$dir/error.log" \
    | sed -e 's/ while .*//' -e 's/^/  /'
echo
if [ -n "${DEMO_SECONDS:-}" ]; then
    echo "demo: ending in $DEMO_SECONDS seconds"
else
    echo "demo: a request a second keeps the heartbeats moving; Ctrl-C stops"
fi

start=$SECONDS
while [ -z "${DEMO_SECONDS:-}" ] || [ $((SECONDS - start)) -lt "$DEMO_SECONDS" ]
do
    traffic 1
    sleep 1
done
