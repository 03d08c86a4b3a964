#!/usr/bin/env bash
# make bench, the shared database (cluster_database):
#
# 1. What it costs PostgreSQL: two load balancers, 50 nodes each, checked
#    every second (interval=1s), for BENCH_DB_SECONDS (30): statements and
#    rows a second, from pg_stat_database, and the CPU of every PostgreSQL
#    process, from /proc.
# 2. What it costs the request path: the same front with the database and
#    without it, interleaved, BENCH_ROUNDS (7) of BENCH_SECONDS (3): the
#    median of the per-round throughput ratios, and the p99 added.
# 3. The p99 while PostgreSQL is frozen (SIGSTOP), against the same load
#    just before.

set -euo pipefail

: "${CLUSTER_MODULE:?run it with make bench}"
: "${CLUSTER_SIM:?run it with make bench}"
NGINX_BIN=${NGINX_BIN:-/usr/sbin/nginx}
rounds=${BENCH_ROUNDS:-7}
seconds=${BENCH_SECONDS:-3}
db_seconds=${BENCH_DB_SECONDS:-30}
connections=${BENCH_CONNECTIONS:-50}

. "$(dirname "$0")/bench_lib.sh" bench-db

pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$pg_bin" ] || { echo "bench-db: PostgreSQL is not installed" >&2; exit 1; }

as_pg() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_port=$(free_port)
mkdir "$dir/pg"
[ "$(id -u)" = 0 ] && chown postgres "$dir/pg"

as_pg "$pg_bin/initdb" -D "$dir/pg/data" -U postgres --auth-local=trust \
    --auth-host=scram-sha-256 -E UTF8 --locale=C >"$dir/initdb.log" 2>&1
as_pg "$pg_bin/pg_ctl" -D "$dir/pg/data" -l "$dir/pg/server.log" -w \
    -o "-p $pg_port -k $dir/pg -c listen_addresses=127.0.0.1" start >/dev/null

pg_stop() {
    as_pg "$pg_bin/pg_ctl" -D "$dir/pg/data" -m fast -w stop >/dev/null 2>&1 \
        || true
}

trap 'pg_stop; bench_stop' EXIT

head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$dir/db.pass"
chmod 600 "$dir/db.pass"

psql_pg() {
    as_pg "$pg_bin/psql" -X -q -A -t -h "$dir/pg" -p "$pg_port" -U postgres \
        "$@"
}

psql_pg -c "CREATE ROLE lb LOGIN PASSWORD '$(cat "$dir/db.pass")'" \
        -c "CREATE DATABASE lb OWNER lb" >/dev/null

# 50 nodes: one nginx answering the health JSON on 50 loopback addresses
n=50
node_port=$(free_port)
listens=""
servers=""
for i in $(seq "$n"); do
    listens="$listens        listen 127.0.2.$i:$node_port;"$'\n'
    servers="$servers        server 127.0.2.$i:$node_port;"$'\n'
done

cat > "$dir/nodes.conf" <<CONF
pid $dir/nodes.pid;
error_log $dir/nodes.log warn;
worker_processes 1;
worker_cpu_affinity 10;
events { worker_connections 4096; }
http {
    access_log off;
    $temp_paths
    keepalive_requests 100000;
    server {
$listens
        location /health/json {
            default_type application/json;
            return 200 '{"applicationName":"ProGet","databaseStatus":"OK","versionNumber":"2023.27 (Build 1)","releaseNumber":"23.0.27","licenseStatus":"OK","serviceStatus":"OK"}';
        }
        location / { return 200 "a static answer from a node\n"; }
    }
}
CONF

# front NAME PORT DATABASE-LINE
front() {
    cat > "$dir/$1.conf" <<CONF
load_module $CLUSTER_MODULE;
pid $dir/$1.pid;
error_log $dir/$1.log warn;
worker_processes 1;
worker_cpu_affinity 01;
events { worker_connections 4096; }
http {
    access_log off;
    $temp_paths
    keepalive_requests 100000;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    $3
    upstream proget {
$servers
        cluster zone=$1:1m;
        cluster_heartbeat interval=1s stale=1m;
        cluster_check timeout=1s;
        keepalive 64;
    }
    server {
        listen 127.0.0.1:$2;
        location / { proxy_pass http://proget; }
        location /cluster { cluster_status; }
    }
}
CONF
    "$NGINX_BIN" -p "$dir/" -c "$dir/$1.conf" -e "$dir/$1.log"
}

database() {
    echo "cluster_database \"host=127.0.0.1 port=$pg_port dbname=lb user=lb\"
                     password_file=$dir/db.pass instance=$1;"
}

"$NGINX_BIN" -p "$dir/" -c "$dir/nodes.conf" -e "$dir/nodes.log"

lb1=$(free_port); lb2=$(free_port); plain=$(free_port)
front lb1 "$lb1" "$(database lb1)"
front lb2 "$lb2" "$(database lb2)"
front plain "$plain" ""

for _ in $(seq 100); do
    s1=$(curl -s "http://127.0.0.1:$lb1/cluster" | grep -c '"status":"connected"' || true)
    s2=$(curl -s "http://127.0.0.1:$lb2/cluster" | grep -c '"status":"connected"' || true)
    [ "$s1" -ge 1 ] && [ "$s2" -ge 1 ] && break
    sleep 0.1
done
sleep 3

# --- 1. what PostgreSQL does for them -------------------------------------

stats() {
    psql_pg -d lb -c "SELECT xact_commit + xact_rollback,
                             tup_inserted + tup_updated + tup_deleted,
                             tup_returned + tup_fetched
                      FROM pg_stat_database WHERE datname = 'lb'" | tr '|' ' '
}

# CPU seconds of every PostgreSQL process
pg_cpu() {
    local master
    master=$(head -1 "$dir/pg/data/postmaster.pid")
    perl -e '
        my ($master, $hz) = @ARGV;
        my $sum = 0;
        for my $f (glob "/proc/[0-9]*/stat") {
            open my $fh, "<", $f or next;
            my $line = <$fh> // next;
            my ($pid, $rest) = $line =~ /^(\d+) \(.*?\) (.*)$/ or next;
            my @s = split " ", $rest;
            next unless $pid == $master || $s[1] == $master;
            $sum += $s[11] + $s[12];
        }
        printf "%.3f\n", $sum / $hz;' "$master" "$(getconf CLK_TCK)"
}

echo "bench-db: two load balancers, $n nodes each, interval 1 s, for" \
     "${db_seconds} s"

read -r x0 w0 r0 < <(stats)
c0=$(pg_cpu)
sleep "$db_seconds"
read -r x1 w1 r1 < <(stats)
c1=$(pg_cpu)

perl -e '
    my ($x, $w, $r, $c, $s, $n) = @ARGV;
    printf "bench-db: %.1f statements/s (%.2f per instance a second), "
         . "%.0f rows written/s, %.0f rows read/s\n",
        $x / $s, $x / $s / 2, $w / $s, $r / $s;
    printf "bench-db: PostgreSQL used %.3f s of CPU in %d s: %.2f%% of a core\n",
        $c, $s, 100 * $c / $s;
' "$((x1 - x0))" "$((w1 - w0))" "$((r1 - r0))" \
  "$(perl -e "printf '%.3f', $c1 - $c0")" "$db_seconds" "$n"

rows=$(psql_pg -d lb -c "SELECT count(*) FROM ngx_cluster.observations")
echo "bench-db: the observations table holds $rows rows (2 x $n)"

# --- 2. the request path, with the database and without --------------------

kill -QUIT "$(cat "$dir/lb2.pid")"
rm -f "$dir/lb2.pid"

echo
echo "bench-db: the request path: $rounds rounds of ${seconds}s, $connections" \
     "connections, with the database (lb1) and without (plain), interleaved"

: > "$dir/results"

for round in $(seq "$rounds"); do
    if [ $((round % 2)) = 1 ]; then order="lb1 plain"; else order="plain lb1"; fi
    line="round $round:"
    for v in $order; do
        p=$([ "$v" = lb1 ] && echo "$lb1" || echo "$plain")
        r=$(measure "$p")
        echo "$round $v $r" >> "$dir/results"
        line="$line $v ${r% *}/s ${r#* }ms;"
    done
    echo "$line"
done

perl -e '
    sub median { my @v = sort { $a <=> $b } @_; my $n = @v;
                 $n % 2 ? $v[$n / 2] : ($v[$n / 2 - 1] + $v[$n / 2]) / 2 }
    my (%rps, %p99);
    open my $fh, "<", $ARGV[0] or die;
    while (<$fh>) { my ($r, $v, $x, $p) = split; $rps{$v}{$r} = $x; $p99{$v}{$r} = $p }
    my @r = sort { $a <=> $b } keys %{$rps{plain}};
    my @ratio = map { $rps{lb1}{$_} / $rps{plain}{$_} } @r;
    my @added = map { ($p99{lb1}{$_} - $p99{plain}{$_}) * 1000 } @r;
    printf "bench-db: with the database / without: throughput %.3f (median of"
         . " per-round ratios; range %.3f to %.3f), p99 added %+.0f us\n",
        median(@ratio), (sort { $a <=> $b } @ratio)[0],
        (sort { $a <=> $b } @ratio)[-1], median(@added);
' "$dir/results"

# --- 3. the p99 while PostgreSQL is frozen ---------------------------------

pg_pids() {
    local master
    master=$(head -1 "$dir/pg/data/postmaster.pid")
    echo "$master" $(pgrep -P "$master")
}

before=$(measure "$lb1")
kill -STOP $(pg_pids)
frozen=$(measure "$lb1")
frozen2=$(measure "$lb1")
kill -CONT $(pg_pids)

echo
echo "bench-db: PostgreSQL frozen: p99 ${before#* } ms before, ${frozen#* } and" \
     "${frozen2#* } ms frozen (${before% *}, ${frozen% *} and ${frozen2% *}" \
     "requests/s)"
curl -s "http://127.0.0.1:$lb1/cluster" \
    | grep -o '"database":{"status":"[a-z]*"' | sed 's/^/bench-db: then /'
