#!/usr/bin/env bash
# make demo: five simulated Inedo web nodes behind nginx with the cluster
# module, on loopback: one on another release, one whose service is stopped,
# one whose EncryptionKey differs; active checks, users signing in and
# browsing, one node stopped, and the status.
#
# DEMO_PORT (8080) is nginx's port; the nodes listen on 127.0.0.11 to
# 127.0.0.15, port DEMO_NODE_PORT (18601), with their service messenger on
# the next port; DEMO_SECONDS, when set, ends the demo after that long.

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
    (exec 3<>"/dev/tcp/${2:-127.0.0.1}/$1") 2>/dev/null
}

messenger=$((node_port + 1))

if in_use "$port"; then
    echo "demo: port $port is in use; set DEMO_PORT" >&2
    exit 1
fi

for i in 11 12 13 14 15; do
    if in_use "$node_port" 127.0.0.$i || in_use "$messenger" 127.0.0.$i; then
        echo "demo: port $node_port or $messenger of 127.0.0.$i is in use;" \
             "set DEMO_NODE_PORT" >&2
        exit 1
    fi
done

# the cluster's EncryptionKey, and another for the odd node: random, in
# files of the demo's, never printed
random_key() {
    head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n'
}

random_key > "$dir/encryption.key"
random_key > "$dir/other.key"
chmod 600 "$dir/encryption.key" "$dir/other.key"

# name, address, release, health answer, service, key file
start_node() {
    "$CLUSTER_SIM" --name "$1" --listen "$2" --port "$node_port" \
        --messenger "$messenger" --version "$3" --health "$4" \
        --service "$5" --key-file "$6" >>"$dir/sim.log" 2>&1 &
    pids+=($!)
    echo "$!" > "$dir/$1.pid"
}

start_node web1 127.0.0.11 23.0.27 json2025 ok "$dir/encryption.key"
start_node web2 127.0.0.12 23.0.27 text2026 error "$dir/encryption.key"
start_node web3 127.0.0.13 23.0.31 json2025 ok "$dir/encryption.key"
start_node web4 127.0.0.14 23.0.27 text2026 ok "$dir/encryption.key"
start_node web5 127.0.0.15 23.0.27 json2025 ok "$dir/other.key"

# the admin actions' token: in a file of the demo's, never printed
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$dir/admin.token"
chmod 600 "$dir/admin.token"

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
        server 127.0.0.11:$node_port;
        server 127.0.0.12:$node_port;
        server 127.0.0.13:$node_port;
        server 127.0.0.14:$node_port;
        server 127.0.0.15:$node_port;

        cluster zone=proget_cluster:1m;
        cluster_node_name 127.0.0.11:$node_port web1;
        cluster_node_name 127.0.0.12:$node_port web2;
        cluster_node_name 127.0.0.13:$node_port web3;
        cluster_node_name 127.0.0.14:$node_port web4;
        cluster_node_name 127.0.0.15:$node_port web5;
        cluster_heartbeat interval=1s stale=1m;
        cluster_check timeout=2s rise=2 fall=2 messenger=$messenger;
        cluster_key file=$dir/encryption.key;
        cluster_cookie name=^\.ProGetAuth\$ login=^/log-in;
        cluster_eject stale down key_mismatch;
    }

    server {
        listen 127.0.0.1:$port;

        location / {
            proxy_pass http://proget;
        }

        location /cluster {
            cluster_status refresh=5s admin=on token_file=$dir/admin.token;
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

. "$(dirname "$0")/demo_lib.sh"

echo "demo: five nodes behind nginx, checked every second; web2's service"
echo "demo: is stopped, web3 runs another release, and web5's EncryptionKey"
echo "demo: differs: users who sign in there are sent to sign in elsewhere"
sleep 3
traffic 20
summary

echo
echo "demo: stopping web4; the checks take it out of rotation"
kill "$(cat "$dir/web4.pid")"
sleep 3
traffic 5
summary

echo
echo "demo: the status is at http://127.0.0.1:$port/cluster: a page in a"
echo "demo: browser, JSON with curl, ?format=prometheus for Prometheus;"
echo "demo: its Drain/Remove/Restore buttons take the token in"
echo "demo: $dir/admin.token"
echo "demo: what nginx logged of the cluster:"
grep -o 'cluster "proget".*findings: [a-z_ ]*' "$dir/error.log" \
    | sed -e 's/ while .*//' -e 's/^/  /'
echo
if [ -n "${DEMO_SECONDS:-}" ]; then
    echo "demo: ending in $DEMO_SECONDS seconds"
else
    echo "demo: a user a second keeps the heartbeats moving; Ctrl-C stops"
fi

start=$SECONDS
while [ -z "${DEMO_SECONDS:-}" ] || [ $((SECONDS - start)) -lt "$DEMO_SECONDS" ]
do
    traffic 1
    sleep 1
done
