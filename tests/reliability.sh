#!/usr/bin/env bash
# make reliability: what clients see while things go wrong, through an
# upstream with the cluster and through the same servers with plain round
# robin, both in one nginx and under load at the same time (wrk, keep-alive,
# one per upstream), so that each figure has its plain twin from the same
# run.  Not part of make test; prints a table (RELIABILITY.md keeps one).
#
#   1. 50 reloads, servers added, removed and reordered
#   2. a node killed (SIGKILL) and started again
#   3. a worker killed (SIGKILL)
#   4. a node that hangs: accepts, never answers
#   5. 1,000 nodes in one upstream, checked every second

set -euo pipefail

: "${CLUSTER_MODULE:?run it with make reliability}"
: "${CLUSTER_SIM:?run it with make reliability}"
NGINX_BIN=${NGINX_BIN:-/usr/sbin/nginx}
connections=${RELIABILITY_CONNECTIONS:-20}

. "$(dirname "$0")/bench_lib.sh" reliability

front=$(free_port)
plain=$(free_port)
token=$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')
printf '%s\n' "$token" > "$dir/token"
chmod 600 "$dir/token"

# the state file's folder, the workers' (nobody, when nginx starts as root)
if [ "$(id -u)" = 0 ]; then
    install -d -o nobody "$dir/state"
else
    mkdir "$dir/state"
fi

declare -A node
for s in s1 s2 s3 s4; do
    node[$s]=$(free_port)
done

start_sim() {
    "$CLUSTER_SIM" --name "$1" --port "${node[$1]}" >>"$dir/sim-$1.log" 2>&1 &
    echo $! > "$dir/sim-$1.pid"
    sims+=($!)
    for _ in $(seq 100); do
        curl -s -m 1 -o /dev/null "http://127.0.0.1:${node[$1]}/health" && return
        sleep 0.02
    done
}

for s in s1 s2 s3 s4; do
    start_sim "$s"
done

# the front: one upstream with the cluster, one plain, the same servers
front_conf() {    # SERVERS...: the upstreams' servers, in this order
    local s servers=""
    for s in "$@"; do
        servers="$servers        server 127.0.0.1:${node[$s]};
"
    done

    cat <<CONF
load_module $CLUSTER_MODULE;

pid $dir/front.pid;
error_log $dir/front.log notice;
worker_processes 2;

events {
    worker_connections 4096;
}

http {
    access_log off;
    $temp_paths
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_connect_timeout 1s;
    proxy_read_timeout 2s;
    proxy_next_upstream error timeout;

    upstream clu {
$servers
        cluster zone=clu:1m;
        cluster_heartbeat interval=1s stale=1m;
        cluster_check uri=/health timeout=1s rise=2 fall=2;
        keepalive 32;
    }

    upstream plain {
$servers
        keepalive 32;
    }

    cluster_state_file $dir/state/state.json;

    server {
        listen 127.0.0.1:$front;
        location / { proxy_pass http://clu; }
        location /cluster {
            cluster_status admin=on token_file=$dir/token;
        }
    }

    server {
        listen 127.0.0.1:$plain;
        location / { proxy_pass http://plain; }
    }
}
CONF
}

front_conf s1 s2 s3 > "$dir/front.conf"
"$NGINX_BIN" -p "$dir/" -c "$dir/front.conf" -e "$dir/front.log"
sleep 3

# wrk in the background: load PORT SECONDS NAME; its figures in NAME.wrk,
# its pid in $loaded
load() {
    wrk -t1 -c"$connections" -d"$2s" --timeout 5s --latency \
        "http://127.0.0.1:$1/" > "$dir/$3.wrk" 2>&1 &
    loaded=$!
}

# "requests errors p99-ms" of a wrk run: errors are socket errors and
# answers other than 2xx/3xx
figures() {
    perl -ne '
        $n = $1 if /(\d+) requests in/;
        $e += $1 + $2 + $3 + $4
            if /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/;
        $e += $1 if /Non-2xx or 3xx responses: (\d+)/;
        $p = $1 * { us => 0.001, ms => 1, s => 1000 }->{$2}
            if /^\s+99%\s+([\d.]+)(us|ms|s)\b/;
        END { printf "%d %d %.1f\n", $n, $e, $p }' "$dir/$1.wrk"
}

status() {
    curl -s -m 5 "http://127.0.0.1:$front/cluster"
}

# whether node S is in rotation, by the cluster's status: 1 or 0
in_rotation() {
    status | perl -MJSON::PP -e '
        my ($id) = @ARGV;
        my $d = decode_json(join "", <STDIN>);
        my ($n) = grep { $_->{id} eq $id } @{$d->{clusters}[0]{nodes}};
        print $n && $n->{in_rotation} ? 1 : 0;' "127.0.0.1:${node[$1]}"
}

# waits until node S's rotation is WANT (1 or 0); prints the ms it took
wait_rotation() {
    local t0 now
    t0=$(date +%s%3N)
    for _ in $(seq 300); do
        [ "$(in_rotation "$1")" = "$2" ] && break
        sleep 0.1
    done
    now=$(date +%s%3N)
    echo $((now - t0))
}

admin() {    # NODE ACTION
    curl -s -m 5 -o /dev/null -w '%{http_code}' -X POST \
        -H "Authorization: Bearer $token" \
        "http://127.0.0.1:$front/cluster/nodes/127.0.0.1:${node[$1]}/$2"
}

requests_of() {    # NODE: its requests, as the status counts them
    status | perl -MJSON::PP -e '
        my ($id) = @ARGV;
        my $d = decode_json(join "", <STDIN>);
        my ($n) = grep { $_->{id} eq $id } @{$d->{clusters}[0]{nodes}};
        print $n ? $n->{web}{requests} : -1;' "127.0.0.1:${node[$1]}"
}

: > "$dir/table"
row() {
    printf '| %s | %s | %s |\n' "$1" "$2" "$3" >> "$dir/table"
    printf '%s: cluster %s; plain %s\n' "$1" "$2" "$3"
}

# 1. 50 reloads under load, the servers changing

[ "$(admin s2 drain)" = 200 ] || { echo "reliability: drain failed" >&2; exit 1; }

load "$front" 30 reload_c; w1=$loaded
load "$plain" 30 reload_p; w2=$loaded
sleep 1
before=$(requests_of s1)

orders=("s1 s2 s3" "s1 s2 s3 s4" "s3 s1 s2" "s1 s2" "s2 s3 s1 s4")
for i in $(seq 50); do
    front_conf ${orders[$((i % ${#orders[@]}))]} > "$dir/front.conf"
    kill -HUP "$(cat "$dir/front.pid")"
    sleep 0.4
done
front_conf s1 s2 s3 > "$dir/front.conf"
kill -HUP "$(cat "$dir/front.pid")"
wait "$w1" "$w2" || true
sleep 1

read -r cn ce _ <<< "$(figures reload_c)"
read -r pn pe _ <<< "$(figures reload_p)"
after=$(requests_of s1)
kept=$([ "$(in_rotation s2)" = 0 ] && echo "s2 still drained" || echo "s2 NOT drained")
counted=$([ "$after" -ge "$before" ] && echo "s1's requests kept ($before, then $after)" \
          || echo "s1's requests LOST ($before, then $after)")
row "50 reloads under load: failed requests" "$ce of $cn" "$pe of $pn"
row "50 reloads: operator state and counters" "$kept; $counted" "-"
admin s2 restore >/dev/null
sleep 2

# 2. a node killed and started again

load "$front" 16 kill_c; w1=$loaded
load "$plain" 16 kill_p; w2=$loaded
sleep 3
kill -KILL "$(cat "$dir/sim-s1.pid")"
out=$(wait_rotation s1 0)
sleep 3
start_sim s1
back=$(wait_rotation s1 1)
wait "$w1" "$w2" || true

read -r cn ce _ <<< "$(figures kill_c)"
read -r pn pe _ <<< "$(figures kill_p)"
row "a node killed and started again: failed requests" "$ce of $cn" "$pe of $pn"
row "a node killed: out of rotation after, back after" "${out} ms; ${back} ms (interval 1s, fall 2, rise 2)" "-"

# 3. a worker killed

load "$front" 10 worker_c; w1=$loaded
load "$plain" 10 worker_p; w2=$loaded
sleep 3
worker=$(pgrep -P "$(cat "$dir/front.pid")" | head -1)
kill -KILL "$worker"
sleep 1
t0=$(date +%s%3N)
code=$(curl -s -m 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$front/cluster")
t1=$(date +%s%3N)
wait "$w1" "$w2" || true

read -r cn ce _ <<< "$(figures worker_c)"
read -r pn pe _ <<< "$(figures worker_p)"
row "a worker killed (SIGKILL): failed requests" "$ce of $cn" "$pe of $pn"
row "a worker killed: the status after" "$code in $((t1 - t0)) ms (the zone's lock not left held)" "-"

# 4. a node that hangs

load "$front" 16 hang_c; w1=$loaded
load "$plain" 16 hang_p; w2=$loaded
sleep 3
curl -s -m 2 -o /dev/null "http://127.0.0.1:${node[s1]}/_sim/control?hang=1"
out=$(wait_rotation s1 0)
wait "$w1" "$w2" || true
curl -s -m 2 -o /dev/null "http://127.0.0.1:${node[s1]}/_sim/control?reset=1"

read -r cn ce cp <<< "$(figures hang_c)"
read -r pn pe pp <<< "$(figures hang_p)"
row "a node hangs: failed requests, p99" "$ce of $cn, p99 $cp ms" "$pe of $pn, p99 $pp ms"
row "a node hangs: out of rotation after" "${out} ms" "never"

kill -QUIT "$(cat "$dir/front.pid")"
sleep 1

# 5. 1,000 nodes in one upstream, checked every second

# a thousand free ports in a row, below the ephemeral range
base=$(perl -MIO::Socket::INET -e '
    BASE: for (my $b = 11000; $b < 31000; $b += 1000) {
        my @s;
        for my $p ($b .. $b + 999) {
            my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1",
                        LocalPort => $p, Listen => 1, ReuseAddr => 1)
                or next BASE;
            push @s, $s;
        }
        print "$b\n";
        exit 0;
    }
    exit 1;') || { echo "reliability: no 1,000 free ports in a row" >&2; exit 1; }
many_port=$(free_port)
{
    cat <<CONF
pid $dir/many.pid;
error_log $dir/many.log warn;
worker_processes 1;
worker_rlimit_nofile 8192;
events { worker_connections 8192; }
http {
    access_log off;
    $temp_paths
    server {
CONF
    for i in $(seq 0 999); do
        echo "        listen 127.0.0.1:$((base + i));"
    done
    cat <<'CONF'
        location / {
            default_type application/json;
            return 200 '{"applicationName":"ProGet","releaseNumber":"23.0.27","versionNumber":"2023.27 (Build 1)","databaseStatus":"OK","licenseStatus":"OK","serviceStatus":"OK"}';
        }
    }
}
CONF
} > "$dir/many.conf"
"$NGINX_BIN" -p "$dir/" -c "$dir/many.conf" -e "$dir/many.log"

many_front() {    # ZONE SIZE, CHECKS (yes/no)
    local i
    cat <<CONF
load_module $CLUSTER_MODULE;
pid $dir/mf.pid;
error_log $dir/mf.log warn;
worker_processes 1;
worker_rlimit_nofile 8192;
events { worker_connections 8192; }
http {
    access_log off;
    $temp_paths
    upstream many {
CONF
    for i in $(seq 0 999); do
        echo "        server 127.0.0.1:$((base + i));"
    done
    if [ "$2" = yes ]; then
        echo "        cluster zone=many:$1;"
        echo "        cluster_heartbeat interval=1s stale=1m;"
        echo "        cluster_check uri=/health timeout=2s;"
    fi
    cat <<CONF
    }
    server {
        listen 127.0.0.1:$many_port;
        location / { proxy_pass http://many; }
        location /cluster { cluster_status; }
    }
}
CONF
}

cpu_of() {    # PID: user + system, in ticks
    awk '{ print $14 + $15 }' "/proc/$1/stat"
}

worker_cpu() {    # SECONDS: the front worker's CPU over them, in % of a core
    local w c0 c1
    w=$(pgrep -P "$(cat "$dir/mf.pid")" | head -1)
    c0=$(cpu_of "$w")
    sleep "$1"
    c1=$(cpu_of "$w")
    echo $(( (c1 - c0) * 100 / $1 / $(getconf CLK_TCK) ))
}

zone=none
for size in 512k 1m 2m 4m 8m; do
    many_front "$size" yes > "$dir/mf.conf"
    "$NGINX_BIN" -p "$dir/" -c "$dir/mf.conf" -e "$dir/mf.log" || continue
    sleep 2
    tracked=$(curl -s -m 10 "http://127.0.0.1:$many_port/cluster" | perl -MJSON::PP -e '
        my $d = decode_json(join "", <STDIN>);
        print scalar grep { $_->{tracked} } @{$d->{clusters}[0]{nodes}};')
    kill -QUIT "$(cat "$dir/mf.pid")"
    sleep 1
    if [ "$tracked" = 1000 ]; then
        zone=$size
        break
    fi
done

many_front "${zone/none/8m}" yes > "$dir/mf.conf"
"$NGINX_BIN" -p "$dir/" -c "$dir/mf.conf" -e "$dir/mf.log"
sleep 5
cpu=$(worker_cpu 20)
# the median of 5 renders: "time status bytes"
render() {
    for _ in 1 2 3 4 5; do
        curl -s -m 10 -o /dev/null \
            -w '%{time_total} %{http_code} %{size_download}\n' "$1"
    done | sort -n | sed -n 3p
}
read -r render rcode rsize <<< "$(render "http://127.0.0.1:$many_port/cluster")"
read -r html hcode hsize <<< "$(render "http://127.0.0.1:$many_port/cluster?format=html")"
checks=$(curl -s -m 10 "http://127.0.0.1:$many_port/cluster" | perl -MJSON::PP -e '
    my $d = decode_json(join "", <STDIN>);
    my $up = grep { $_->{state} eq "up" } @{$d->{clusters}[0]{nodes}};
    print $up;')
kill -QUIT "$(cat "$dir/mf.pid")"
sleep 1

many_front 1m no > "$dir/mf.conf"
"$NGINX_BIN" -p "$dir/" -c "$dir/mf.conf" -e "$dir/mf.log"
sleep 2
idle=$(worker_cpu 20)
kill -QUIT "$(cat "$dir/mf.pid")"
kill -QUIT "$(cat "$dir/many.pid")"

row "1,000 nodes checked every second: CPU of the worker" "${cpu}% of a core ($checks up)" "${idle}% (no checks)"
ms() { awk -v t="$1" 'BEGIN { printf "%.0f", t * 1000 }'; }
row "1,000 nodes: the status rendered, median of 5" "JSON $(ms "$render") ms ($rcode, $rsize bytes), HTML $(ms "$html") ms ($hcode, $hsize bytes)" "-"
row "1,000 nodes: the smallest zone that tracks them all" "$zone" "-"

echo
echo "| what | cluster | plain round robin |"
echo "|---|---|---|"
cat "$dir/table"
