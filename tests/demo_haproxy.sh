#!/usr/bin/env bash
# make demo-haproxy: the scenario of make demo behind HAProxy with the
# bridge: five simulated Inedo web nodes, one on another release, one whose
# service is stopped, one whose EncryptionKey differs; the bridge's checks,
# users signing in and browsing, one node stopped, the status, and
# HAProxy's own view of its servers.
#
# DEMO_PORT (8080) is HAProxy's port; the nodes listen on 127.0.0.11 to
# 127.0.0.15, port DEMO_NODE_PORT (18601), with their service messenger on
# the next port; DEMO_SECONDS, when set, ends the demo after that long.

set -euo pipefail

: "${CLUSTER_BRIDGE:?run it with make demo-haproxy}"
: "${CLUSTER_SIM:?run it with make demo-haproxy}"
port=${DEMO_PORT:-8080}
node_port=${DEMO_NODE_PORT:-18601}

dir=$(mktemp -d -t cluster-demo-haproxy-XXXXXX)
chmod 755 "$dir"

pids=()

stop() {
    trap - EXIT INT TERM
    [ -f "$dir/haproxy.pid" ] && kill "$(cat "$dir/haproxy.pid")" 2>/dev/null
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    rm -rf "$dir"
    echo
    echo "demo: stopped HAProxy and the simulated nodes"
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

random_key() {
    head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n'
}

random_key > "$dir/encryption.key"
random_key > "$dir/other.key"
chmod 600 "$dir/encryption.key" "$dir/other.key"

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

head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$dir/admin.token"
chmod 600 "$dir/admin.token"

# the README's haproxy.cfg and cluster.conf, with the demo's addresses
cat > "$dir/haproxy.cfg" <<CFG
global
    setenv CLUSTER_CONF $dir/cluster.conf
    lua-load $CLUSTER_BRIDGE
    stats socket $dir/haproxy.sock level admin

defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    retries 3
    option redispatch 1

frontend web
    bind 127.0.0.1:$port
    http-request use-service lua.cluster_status if { path_beg /cluster } { src 127.0.0.1 }
    default_backend proget

backend proget
    http-request set-var(txn.cluster_cookie) req.fhdr(cookie)
    http-response lua.cluster_response
    server web1 127.0.0.11:$node_port
    server web2 127.0.0.12:$node_port
    server web3 127.0.0.13:$node_port
    server web4 127.0.0.14:$node_port
    server web5 127.0.0.15:$node_port
CFG

cat > "$dir/cluster.conf" <<CONF
cluster_status refresh=5s admin=on token_file=$dir/admin.token;
cluster_state_file $dir/cluster.state;

backend proget {
    cluster_heartbeat interval=1s stale=1m;
    cluster_check timeout=2s rise=2 fall=2 messenger=$messenger;
    cluster_key file=$dir/encryption.key;
    cluster_cookie name=^\.ProGetAuth\$ login=^/log-in;
    cluster_eject stale down key_mismatch;
}
CONF

preload=()
if [ "${CLUSTER_SANITIZE:-0}" = 1 ]; then
    preload=(env "LD_PRELOAD=$(cc -print-file-name=libasan.so)"
             ASAN_OPTIONS=detect_leaks=0)
fi

"${preload[@]}" haproxy -db -f "$dir/haproxy.cfg" >"$dir/haproxy.log" 2>&1 &
echo "$!" > "$dir/haproxy.pid"

for _ in $(seq 50); do
    in_use "$port" && break
    sleep 0.1
done

. "$(dirname "$0")/demo_lib.sh"

haproxy_view() {
    perl -MIO::Socket::UNIX -e '
        my $s = IO::Socket::UNIX->new(Peer => $ARGV[0]) or exit 0;
        print $s "show stat\n";
        my @up;
        while (<$s>) {
            my @f = split /,/;
            push @up, "$f[1] $f[17]" if $f[0] eq "proget" && $f[1] ne "BACKEND";
        }
        print "  HAProxy says: ", join("; ", @up), "\n";
    ' "$dir/haproxy.sock"
}

echo "demo: five nodes behind HAProxy, checked every second by the bridge;"
echo "demo: web2's service is stopped, web3 runs another release, and web5's"
echo "demo: EncryptionKey differs: users who sign in there are sent to sign in"
echo "demo: elsewhere"
sleep 3
traffic 20
summary
haproxy_view

echo
echo "demo: stopping web4; the checks take it out of rotation"
kill "$(cat "$dir/web4.pid")"
sleep 3
traffic 5
summary
haproxy_view

echo
echo "demo: the status is at http://127.0.0.1:$port/cluster: a page in a"
echo "demo: browser, JSON with curl, ?format=prometheus for Prometheus;"
echo "demo: its Drain/Remove/Restore buttons take the token in"
echo "demo: $dir/admin.token"
echo "demo: what the bridge logged of the cluster:"
grep -o 'cluster "proget".*findings: [a-z_ ]*' "$dir/haproxy.log" \
    | sed -e 's/^/  /' || true
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
