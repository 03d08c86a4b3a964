#!/usr/bin/env bash
# make demo-ha: two nginx with the cluster module in front of three
# simulated Inedo web nodes, sharing one truth through a PostgreSQL of the
# demo's own (a temporary folder, a loopback port): an operator drains a
# node on one load balancer and the other stops sending it users within a
# second; a restore on the other comes back the same way.
#
# DEMO_PORT (8080) and the next port are the two nginx; the nodes listen on
# 127.0.0.21 to 127.0.0.23, port DEMO_NODE_PORT (18611); PostgreSQL on
# DEMO_PG_PORT (15433); DEMO_SECONDS, when set, ends the demo after that
# long.

set -euo pipefail

: "${CLUSTER_MODULE:?run it with make demo-ha}"
: "${CLUSTER_SIM:?run it with make demo-ha}"
NGINX_BIN=${NGINX_BIN:-/usr/sbin/nginx}
port=${DEMO_PORT:-8080}
port2=$((port + 1))
node_port=${DEMO_NODE_PORT:-18611}
pg_port=${DEMO_PG_PORT:-15433}

pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
if [ -z "$pg_bin" ]; then
    echo "demo-ha: PostgreSQL is not installed: run make demo-ha" >&2
    exit 1
fi

dir=$(mktemp -d -t cluster-demo-ha-XXXXXX)
chmod 755 "$dir"

pids=()

# PostgreSQL refuses to run as root: as root, it runs as "postgres"
as_pg() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

stop() {
    trap - EXIT INT TERM
    for lb in lb1 lb2; do
        [ -f "$dir/$lb/nginx.pid" ] \
            && kill -QUIT "$(cat "$dir/$lb/nginx.pid")" 2>/dev/null
    done
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    [ -f "$dir/pg/data/postmaster.pid" ] \
        && as_pg "$pg_bin/pg_ctl" -D "$dir/pg/data" -m fast -w stop \
               >/dev/null 2>&1
    wait 2>/dev/null || true
    rm -rf "$dir"
    echo
    echo "demo-ha: stopped both nginx, PostgreSQL and the simulated nodes"
}

trap stop EXIT
trap 'exit 0' INT TERM

in_use() {
    (exec 3<>"/dev/tcp/${2:-127.0.0.1}/$1") 2>/dev/null
}

for p in "$port" "$port2" "$pg_port"; do
    if in_use "$p"; then
        echo "demo-ha: port $p is in use; set DEMO_PORT or DEMO_PG_PORT" >&2
        exit 1
    fi
done

for i in 21 22 23; do
    if in_use "$node_port" 127.0.0.$i; then
        echo "demo-ha: port $node_port of 127.0.0.$i is in use;" \
             "set DEMO_NODE_PORT" >&2
        exit 1
    fi
done

# the database: its own folder, a password of the demo's, never printed

mkdir "$dir/pg"
[ "$(id -u)" = 0 ] && chown postgres "$dir/pg"

as_pg "$pg_bin/initdb" -D "$dir/pg/data" -U postgres --auth-local=trust \
    --auth-host=scram-sha-256 -E UTF8 --locale=C >"$dir/initdb.log" 2>&1 \
    || { echo "demo-ha: initdb failed" >&2; cat "$dir/initdb.log" >&2; exit 1; }

as_pg "$pg_bin/pg_ctl" -D "$dir/pg/data" -l "$dir/pg/server.log" -w \
    -o "-p $pg_port -k $dir/pg -c listen_addresses=127.0.0.1" start \
    >/dev/null

head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$dir/db.pass"
chmod 600 "$dir/db.pass"

as_pg "$pg_bin/psql" -X -q -h "$dir/pg" -p "$pg_port" -U postgres \
    -c "CREATE ROLE lb LOGIN PASSWORD '$(cat "$dir/db.pass")'" \
    -c "CREATE DATABASE lb OWNER lb" >/dev/null

head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$dir/admin.token"
chmod 600 "$dir/admin.token"

for i in 1 2 3; do
    "$CLUSTER_SIM" --name "web$i" --listen "127.0.0.2$i" --port "$node_port" \
        >>"$dir/sim.log" 2>&1 &
    pids+=($!)
done

# two load balancers, the same cluster, one database
for lb in lb1 lb2; do
    mkdir "$dir/$lb"
    listen=$([ "$lb" = lb1 ] && echo "$port" || echo "$port2")

    cat > "$dir/$lb/nginx.conf" <<CONF
load_module $CLUSTER_MODULE;

pid $dir/$lb/nginx.pid;
error_log $dir/$lb/error.log notice;
worker_processes 2;

events {
    worker_connections 1024;
}

http {
    access_log off;
    client_body_temp_path $dir/$lb/client_body;
    proxy_temp_path $dir/$lb/proxy;
    fastcgi_temp_path $dir/$lb/fastcgi;
    uwsgi_temp_path $dir/$lb/uwsgi;
    scgi_temp_path $dir/$lb/scgi;

    cluster_database "host=127.0.0.1 port=$pg_port dbname=lb user=lb"
                     password_file=$dir/db.pass instance=$lb;

    upstream proget {
        server 127.0.0.21:$node_port;
        server 127.0.0.22:$node_port;
        server 127.0.0.23:$node_port;

        cluster zone=proget_cluster:1m;
        cluster_node_name 127.0.0.21:$node_port web1;
        cluster_node_name 127.0.0.22:$node_port web2;
        cluster_node_name 127.0.0.23:$node_port web3;
        cluster_heartbeat interval=1s stale=1m;
        cluster_check timeout=2s rise=2 fall=2;
    }

    server {
        listen 127.0.0.1:$listen;

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
done

preload=()
if [ "${CLUSTER_SANITIZE:-0}" = 1 ]; then
    preload=(env "LD_PRELOAD=$(cc -print-file-name=libasan.so)"
             ASAN_OPTIONS=detect_leaks=0)
fi

for lb in lb1 lb2; do
    "${preload[@]}" "$NGINX_BIN" -p "$dir/$lb/" -c "$dir/$lb/nginx.conf" \
        -e "$dir/$lb/error.log"
done

# what a load balancer says: the database, and each node's state
summary() {
    curl -s -m 5 "http://127.0.0.1:$1/cluster" | perl -MJSON::PP -e '
        my $doc = decode_json(join "", <STDIN>);
        my $db = $doc->{database};
        printf "  %s: database %s", $db->{instance}, $db->{status};
        for my $c (@{$doc->{clusters}}) {
            printf "; %s", join ", ", map {
                "$_->{name} $_->{state}" . ($_->{in_rotation} ? "" : " (out)")
            } @{$c->{nodes}};
        }
        print "\n";'
}

state_of() {
    curl -s -m 5 "http://127.0.0.1:$1/cluster" | perl -MJSON::PP -e '
        my $doc = decode_json(join "", <STDIN>);
        my ($n) = grep { $_->{name} eq $ARGV[0] }
                  @{$doc->{clusters}[0]{nodes}};
        print $n->{state};' "$2"
}

act() {
    curl -s -m 5 -o /dev/null -w '%{http_code}' -X POST \
        -H "Authorization: Bearer $(cat "$dir/admin.token")" \
        "http://127.0.0.1:$1/cluster/nodes/web2/$2"
}

# waits until the node is in the state on that load balancer; the time
waits() {
    local start=$(date +%s%N) i
    for i in $(seq 100); do
        [ "$(state_of "$1" web2)" "$2" drained ] && break
        sleep 0.05
    done
    echo $(( ($(date +%s%N) - start) / 1000000 ))
}

for _ in $(seq 100); do
    db1=$(curl -s -m 2 "http://127.0.0.1:$port/cluster" \
          | grep -o '"database":{"status":"[a-z]*"' || true)
    db2=$(curl -s -m 2 "http://127.0.0.1:$port2/cluster" \
          | grep -o '"database":{"status":"[a-z]*"' || true)
    [[ $db1 == *connected* && $db2 == *connected* ]] && break
    sleep 0.1
done
sleep 2

echo "demo-ha: two nginx, lb1 on port $port and lb2 on port $port2, in front"
echo "demo-ha: of three nodes, sharing one PostgreSQL"
summary "$port"
summary "$port2"

echo
echo "demo-ha: an operator drains web2 on lb1 (HTTP $(act "$port" drain))"
echo "demo-ha: lb2 drains it too, after $(waits "$port2" =) ms"
summary "$port"
summary "$port2"

echo
echo "demo-ha: the operator restores web2 on lb2 (HTTP $(act "$port2" restore))"
echo "demo-ha: lb1 restores it too, after $(waits "$port" !=) ms"
summary "$port"
summary "$port2"

echo
echo "demo-ha: the history, as the database keeps it:"
as_pg "$pg_bin/psql" -X -q -A -t -h "$dir/pg" -p "$pg_port" -U postgres -d lb \
    -c "SELECT '  ' || instance || ': ' || node || ' ' || kind || ' '
               || to_state || coalesce(' by ' || nullif(by, ''), '')
        FROM ngx_cluster.events ORDER BY id"

echo
echo "demo-ha: the status pages are http://127.0.0.1:$port/cluster and"
echo "demo-ha: http://127.0.0.1:$port2/cluster; the admin token is in"
echo "demo-ha: $dir/admin.token"
if [ -n "${DEMO_SECONDS:-}" ]; then
    echo "demo-ha: ending in $DEMO_SECONDS seconds"
    sleep "$DEMO_SECONDS"
else
    echo "demo-ha: Ctrl-C stops"
    while :; do sleep 1; done
fi
