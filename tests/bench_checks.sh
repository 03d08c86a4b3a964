#!/usr/bin/env bash
# make bench, part two: the active checks.
#
# 1. How long a node takes to leave rotation after it dies, and to come back
#    after it recovers, against interval x fall and interval x rise.
# 2. What checking 200 nodes every second costs the checking worker, in CPU
#    time, against the same nginx without checks.
#
# BENCH_REPEAT (5) sets how often part 1 repeats; BENCH_SECONDS (20) how
# long part 2 measures.

set -euo pipefail

: "${CLUSTER_MODULE:?run it with make bench}"
: "${CLUSTER_SIM:?run it with make bench}"
NGINX_BIN=${NGINX_BIN:-/usr/sbin/nginx}
repeat=${BENCH_REPEAT:-5}
seconds=${BENCH_SECONDS:-20}

. "$(dirname "$0")/bench_lib.sh" bench-checks

# --- 1. detection and recovery ------------------------------------------

p1=$(free_port); p2=$(free_port); p3=$(free_port); front=$(free_port)

start_sim() {
    "$CLUSTER_SIM" --name "$1" --port "$2" >>"$dir/sim.log" 2>&1 &
    sims+=($!)
    echo $! > "$dir/$1.pid"
    for _ in $(seq 50); do
        (exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null && return
        sleep 0.05
    done
}

start_sim web1 "$p1"; start_sim web2 "$p2"; start_sim web3 "$p3"

cat > "$dir/front.conf" <<CONF
load_module $CLUSTER_MODULE;
pid $dir/front.pid;
error_log $dir/front.log warn;
worker_processes 2;
events { worker_connections 1024; }
http {
    access_log off;
    $temp_paths
    upstream proget {
        server 127.0.0.1:$p1;
        server 127.0.0.1:$p2;
        server 127.0.0.1:$p3;
        cluster zone=bench:1m;
        cluster_heartbeat interval=1s stale=1m;
        cluster_check timeout=1s rise=2 fall=3;
    }
    server {
        listen 127.0.0.1:$front;
        location /cluster { cluster_status; }
    }
}
CONF

"$NGINX_BIN" -p "$dir/" -c "$dir/front.conf" -e "$dir/front.log"
sleep 3

# seconds until web2's state is $1
wait_state() {
    perl -MJSON::PP -MTime::HiRes=time,sleep -e '
        my ($port, $id, $want) = @ARGV;
        my $t0 = time;
        while (time - $t0 < 30) {
            my $doc = `curl -s http://127.0.0.1:$port/cluster`;
            my ($n) = grep { $_->{id} eq $id }
                @{decode_json($doc)->{clusters}[0]{nodes}};
            if ($n->{state} eq $want) {
                printf "%.2f\n", time - $t0;
                exit 0;
            }
            sleep 0.05;
        }
        print "timeout\n";' "$front" "127.0.0.1:$p2" "$1"
}

echo "checks: interval 1 s, fall 3, rise 2, timeout 1 s; a node killed and"
echo "checks: started again, $repeat times"

detect=()
recover=()

for i in $(seq "$repeat"); do
    kill "$(cat "$dir/web2.pid")"
    d=$(wait_state down)
    start_sim web2 "$p2"
    r=$(wait_state up)
    detect+=("$d")
    recover+=("$r")
    echo "round $i: out of rotation after $d s, back after $r s"
    sleep 1.$((RANDOM % 10))
done

perl -e '
    sub median { my @v = sort { $a <=> $b } @_; my $n = @v;
                 $n % 2 ? $v[$n / 2] : ($v[$n / 2 - 1] + $v[$n / 2]) / 2 }
    my ($d, $r) = map { [split /,/] } @ARGV;
    printf "median detection %.2f s (interval x fall = 3 s; range %.2f to %.2f)\n",
        median(@$d), (sort { $a <=> $b } @$d)[0], (sort { $a <=> $b } @$d)[-1];
    printf "median recovery %.2f s (interval x rise = 2 s; range %.2f to %.2f)\n",
        median(@$r), (sort { $a <=> $b } @$r)[0], (sort { $a <=> $b } @$r)[-1];
' "$(IFS=,; echo "${detect[*]}")" "$(IFS=,; echo "${recover[*]}")"

kill -QUIT "$(cat "$dir/front.pid")"
sleep 0.5
rm -f "$dir/front.pid"

# --- 2. the cost of checking 200 nodes ------------------------------------

n=200
backend=$(free_port)
addrs=$(perl -e 'print join " ", map { "127.0.1." . ($_ + 1) } 1 .. '"$n")

listens=""
servers=""
for a in $addrs; do
    listens="$listens        listen $a:$backend;"$'\n'
    servers="$servers        server $a:$backend;"$'\n'
done

cat > "$dir/backend.conf" <<CONF
pid $dir/backend.pid;
error_log $dir/backend.log warn;
worker_processes 1;
events { worker_connections 4096; }
http {
    access_log off;
    $temp_paths
    server {
$listens
        location /health/json {
            default_type application/json;
            return 200 '{"applicationName":"ProGet","databaseStatus":"OK","versionNumber":"2023.27 (Build 1)","releaseNumber":"23.0.27","licenseStatus":"OK","serviceStatus":"OK"}';
        }
    }
}
CONF

front_conf() {
    cat <<CONF
load_module $CLUSTER_MODULE;
pid $dir/$1.pid;
error_log $dir/$1.log warn;
worker_processes 1;
events { worker_connections 4096; }
http {
    access_log off;
    $temp_paths
    upstream many {
$servers
        cluster zone=$1:1m;
        cluster_heartbeat interval=1s stale=1m;
        $2
    }
    server {
        listen 127.0.0.1:$3;
        location /cluster { cluster_status; }
    }
}
CONF
}

idle_port=$(free_port)
front_conf front "cluster_check timeout=1s;" "$front" > "$dir/front.conf"
front_conf idle "" "$idle_port" > "$dir/idle.conf"

"$NGINX_BIN" -p "$dir/" -c "$dir/backend.conf" -e "$dir/backend.log"
"$NGINX_BIN" -p "$dir/" -c "$dir/front.conf" -e "$dir/front.log"
"$NGINX_BIN" -p "$dir/" -c "$dir/idle.conf" -e "$dir/idle.log"
sleep 3

# CPU seconds (user + system) of a master's one worker
cpu() {
    local w
    w=$(pgrep -P "$(cat "$dir/$1.pid")" | head -1)
    perl -e 'open my $f, "<", "/proc/$ARGV[0]/stat" or die;
             my @s = split " ", (split /\) /, <$f>)[1];
             printf "%.3f\n", ($s[11] + $s[12]) / $ARGV[1];' \
        "$w" "$(getconf CLK_TCK)"
}

checks() {
    curl -s "http://127.0.0.1:$front/cluster" | perl -MJSON::PP -e '
        my $c = decode_json(join "", <STDIN>)->{clusters}[0];
        my $n = 0; $n += $_->{health}{checks} for @{$c->{nodes}};
        my $up = grep { $_->{state} eq "up" } @{$c->{nodes}};
        print "$n $up\n";'
}

c0=$(cpu front); i0=$(cpu idle); k0=$(checks)
sleep "$seconds"
c1=$(cpu front); i1=$(cpu idle); k1=$(checks)

perl -e '
    my ($c0, $c1, $i0, $i1, $k0, $k1, $secs, $n) = @ARGV;
    my ($checks0) = split / /, $k0;
    my ($checks1, $up) = split / /, $k1;
    my $checks = $checks1 - $checks0;
    my $cpu = $c1 - $c0;
    my $idle = $i1 - $i0;
    printf "\n%d nodes checked every second for %d s: %d checks, %d nodes up\n",
        $n, $secs, $checks, $up;
    printf "checking worker: %.3f s of CPU (%.2f%% of a core); without checks: %.3f s\n",
        $cpu, 100 * $cpu / $secs, $idle;
    printf "cost of one check: %.1f us of CPU\n",
        $checks ? 1e6 * ($cpu - $idle) / $checks : 0;
' "$c0" "$c1" "$i0" "$i1" "$k0" "$k1" "$seconds" "$n"
