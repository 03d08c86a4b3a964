#!/usr/bin/env bash
# make bench, the HAProxy bridge, each figure against the same HAProxy
# without the bridge, measured in the same run:
#
#  1. throughput and p99 latency: HAProxy with the bridge (heartbeats from
#     HAProxy's counters, no Lua per request), with the key check (one Lua
#     action per request, reading a valid auth cookie), and with one empty
#     Lua action (what HAProxy's Lua costs by itself) against a
#     HAProxy without Lua at all, one thread each on core 0, interleaved,
#     repeated, each ratio the median of the ratios within each round;
#  2. the CPU a check costs: the bridge's checks against HAProxy's own
#     "option httpchk", on the same 50 servers, every 100 ms;
#  3. detection and recovery: a node stopped and started again, timed by
#     HAProxy's own stats, with the same interval, rise and fall.
#
# BENCH_ROUNDS (7), BENCH_SECONDS (5), BENCH_CONNECTIONS (50) tune the run;
# HAPROXY_BIN (/usr/sbin/haproxy) is the HAProxy measured.

set -euo pipefail

: "${CLUSTER_BRIDGE:?run it with make bench}"
: "${CLUSTER_SIM:?run it with make bench}"
rounds=${BENCH_ROUNDS:-7}
seconds=${BENCH_SECONDS:-5}
connections=${BENCH_CONNECTIONS:-50}
haproxy=${HAPROXY_BIN:-/usr/sbin/haproxy}

. "$(dirname "$0")/bench_lib.sh" bench-haproxy

b1=$(free_port); b2=$(free_port); b3=$(free_port)
start_backends "$b1" "$b2" "$b3"

sim_port=$(free_port)
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

[ -n "${cookie:-}" ] || { echo "bench-haproxy: no cookie minted" >&2; exit 1; }

haproxy_start() {    # NAME: its haproxy.cfg is $dir/NAME.cfg
    "$haproxy" -D -f "$dir/$1.cfg" -p "$dir/$1.haproxy"
}

haproxy_stop_all() {
    local p
    for p in "$dir"/*.haproxy; do
        [ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null || true
    done
}

trap 'haproxy_stop_all; bench_stop' EXIT

global() {    # LUA NAME [LINE]: LUA "yes" loads the bridge; LINE, more
    cat <<GLOBAL
global
    nbthread 1
    cpu-map 1/1 0
    stats socket $dir/$2.sock level admin
$( [ "$1" = yes ] && printf '    setenv CLUSTER_CONF %s\n    lua-load %s\n' \
       "$dir/$2.conf" "$CLUSTER_BRIDGE" )
    ${3:-}

defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    http-reuse always
GLOBAL
}

servers="    server b1 127.0.0.1:$b1
    server b2 127.0.0.1:$b2
    server b3 127.0.0.1:$b3"

p_plain=$(free_port); p_bridge=$(free_port); p_key=$(free_port)
p_noop=$(free_port)

# a Lua action that does nothing: what HAProxy's Lua costs by itself, of
# what the key check (one action per request) costs
cat > "$dir/noop.lua" <<'LUA'
core.register_action("noop_response", { "http-res" }, function(txn) end)
LUA

{
    global no plain
    cat <<CFG
frontend f
    bind 127.0.0.1:$p_plain
    default_backend app

backend app
$servers
CFG
} > "$dir/plain.cfg"

{
    global yes bridge "lua-load $dir/noop.lua"
    cat <<CFG
frontend f
    bind 127.0.0.1:$p_bridge
    default_backend app

frontend fk
    bind 127.0.0.1:$p_key
    default_backend key

frontend fn
    bind 127.0.0.1:$p_noop
    default_backend noop

backend noop
    http-response lua.noop_response
$servers

backend app
$servers

backend key
    http-request set-var(txn.cluster_cookie) req.fhdr(cookie)
    http-response lua.cluster_response
$servers
CFG
} > "$dir/bridge.cfg"

cat > "$dir/bridge.conf" <<CONF
backend app {
    cluster_heartbeat interval=5s stale=1m;
}

backend key {
    cluster_heartbeat interval=5s stale=1m;
    cluster_key file=$dir/key;
    cluster_cookie name=^\\.ProGetAuth\$ login=^/log-in;
}
CONF

haproxy_start plain
haproxy_start bridge
sleep 1

header=(-H "Cookie: theme=dark; $cookie; lang=en")

echo "bench-haproxy: $rounds rounds of ${seconds}s, $connections connections;" \
     "HAProxy $("$haproxy" -v | sed -n 's/^HAProxy version \([^ ]*\).*/\1/p')," \
     "one thread on core 0, wrk on core 1"

variants=("plain:$p_plain" "bridge:$p_bridge" "key:$p_key" "noop:$p_noop")

for v in "${variants[@]}"; do
    measure "${v#*:}" "${header[@]}" >/dev/null    # warm up
done

: > "$dir/results"
n=${#variants[@]}

for round in $(seq "$rounds"); do
    line="round $round:"
    for i in $(seq 0 $((n - 1))); do
        v=${variants[$(( (i + round) % n ))]}
        r=$(measure "${v#*:}" "${header[@]}")
        echo "$round ${v%%:*} $r" >> "$dir/results"
        line="$line ${v%%:*} ${r% *}/s ${r#* }ms;"
    done
    echo "$line"
done

perl -e '
    sub median { my @v = sort { $a <=> $b } @_; my $n = @v;
                 $n % 2 ? $v[$n / 2] : ($v[$n / 2 - 1] + $v[$n / 2]) / 2 }
    my (%rps, %p99);
    open my $fh, "<", $ARGV[0] or die;
    while (<$fh>) {
        my ($round, $name, $r, $p) = split;
        $rps{$name}{$round} = $r;
        $p99{$name}{$round} = $p;
    }
    print "\n";
    my @rounds = sort { $a <=> $b } keys %{$rps{plain}};
    my %label = (bridge => "bridge", key => "bridge, key check on",
                 noop => "one Lua action, empty");
    for my $what (qw(bridge key noop)) {
        my @r = map { $rps{$what}{$_} / $rps{plain}{$_} } @rounds;
        my @d = map { ($p99{$what}{$_} - $p99{plain}{$_}) * 1000 } @rounds;
        printf "haproxy: %-26s / plain: throughput %.3f (median of"
            . " per-round ratios; range %.3f to %.3f), p99 added %+.0f us"
            . " (median)\n",
            $label{$what}, median(@r),
            (sort { $a <=> $b } @r)[0], (sort { $a <=> $b } @r)[-1],
            median(@d);
    }
    printf "haproxy: median throughput plain %.0f, bridge %.0f, key check"
        . " on %.0f, one empty Lua action %.0f req/s\n",
        map { median(values %{$rps{$_}}) } qw(plain bridge key noop);
' "$dir/results"

haproxy_stop_all
sleep 0.5

# 2. the CPU of a check: 50 servers checked every 100 ms, by the bridge and
# by HAProxy's own httpchk, each in its own process; CPU time over a span
# from /proc, less the same process idle (no checks) over the same span

ticks=$(getconf CLK_TCK)
span=${BENCH_CHECK_SECONDS:-20}

cpu_of() {    # PID: its user + system CPU time, in ticks
    awk '{ print $14 + $15 }' "/proc/$1/stat"
}

check_servers() {    # SUFFIX: 50 servers on the three backends
    local i
    for i in $(seq 50); do
        eval "port=\$b$(( i % 3 + 1 ))"
        echo "    server s$i 127.0.0.1:$port$1"
    done
}

{
    global no own
    echo "backend app"
    echo "    option httpchk GET /health/json"
    echo "    default-server inter 100 fall 3 rise 2"
    check_servers " check"
    echo "frontend f"
    echo "    bind 127.0.0.1:$(free_port)"
} > "$dir/own.cfg"

{
    global yes cbridge
    echo "backend app"
    check_servers ""
    echo "frontend f"
    echo "    bind 127.0.0.1:$(free_port)"
} > "$dir/cbridge.cfg"

cat > "$dir/cbridge.conf" <<CONF
backend app {
    cluster_heartbeat interval=100ms stale=1m;
    cluster_check rise=2 fall=3 expect=200-499;
}
CONF

{
    global yes idle
    echo "backend app"
    check_servers ""
    echo "frontend f"
    echo "    bind 127.0.0.1:$(free_port)"
} > "$dir/idle.cfg"

cat > "$dir/idle.conf" <<CONF
backend app {
    cluster_heartbeat interval=100ms stale=1m;
}
CONF

for name in own cbridge idle; do
    haproxy_start "$name"
done
sleep 2

declare -A before after
for name in own cbridge idle; do
    before[$name]=$(cpu_of "$(cat "$dir/$name.haproxy")")
done
sleep "$span"
for name in own cbridge idle; do
    after[$name]=$(cpu_of "$(cat "$dir/$name.haproxy")")
done

checks=$(( 50 * span * 10 ))
perl -e '
    my ($ticks, $checks, $own, $bridge, $idle) = @ARGV;
    my $b = $bridge - $idle;
    $b = 0 if $b < 0;
    printf "\nchecks: 50 servers every 100 ms (%d checks each): CPU per"
        . " check, HAProxy httpchk %.1f us, bridge %.1f us (less its idle"
        . " tick), ratio %.2f\n", $checks, $own / $ticks / $checks * 1e6,
        $b / $ticks / $checks * 1e6, $own ? $b / $own : 0;
' "$ticks" "$checks" "$(( ${after[own]} - ${before[own]} ))" \
  "$(( ${after[cbridge]} - ${before[cbridge]} ))" \
  "$(( ${after[idle]} - ${before[idle]} ))"

haproxy_stop_all
sleep 0.5

# 3. detection and recovery: a simulated node behind two HAProxy, one
# checking it itself, one through the bridge, interval 500 ms, fall 2,
# rise 2; the node stopped, then started, five times.  A second node stays
# up, or the bridge's panic guard would keep the only one in rotation.

node_port=$(free_port)
steady_port=$(free_port)

"$CLUSTER_SIM" --name steady --port "$steady_port" >>"$dir/steady.log" 2>&1 &
sims+=($!)

start_node() {
    "$CLUSTER_SIM" --name node --port "$node_port" >>"$dir/node.log" 2>&1 &
    node_pid=$!
    sims+=("$node_pid")
    for _ in $(seq 100); do
        curl -s -m 1 -o /dev/null "http://127.0.0.1:$node_port/health" && return
        sleep 0.02
    done
}

{
    global no down_own
    echo "backend app"
    echo "    option httpchk GET /health HTTP/1.1"
    echo "    http-check send hdr Host node"
    echo "    default-server check inter 500 fall 2 rise 2"
    echo "    server node 127.0.0.1:$node_port"
    echo "    server steady 127.0.0.1:$steady_port"
} > "$dir/down_own.cfg"

{
    global yes down_bridge
    echo "backend app"
    echo "    server node 127.0.0.1:$node_port"
    echo "    server steady 127.0.0.1:$steady_port"
} > "$dir/down_bridge.cfg"

cat > "$dir/down_bridge.conf" <<CONF
backend app {
    cluster_heartbeat interval=500ms stale=1m;
    cluster_check uri=/health timeout=1s rise=2 fall=2;
}
CONF

start_node
haproxy_start down_own
haproxy_start down_bridge
sleep 3

status_of() {    # NAME: the node's status in HAProxy's own stats
    perl -MIO::Socket::UNIX -e '
        my $s = IO::Socket::UNIX->new(Peer => $ARGV[0]) or exit 1;
        print $s "show stat\n";
        while (<$s>) { my @f = split /,/; print "$f[17]\n" if $f[1] eq "node" }
    ' "$dir/$1.sock"
}

# waits for both to say the node is (not) DOWN; prints their times in ms
wait_both() {    # WANT: down | up
    perl -MIO::Socket::UNIX -MTime::HiRes=time,sleep -e '
        my ($want, @socks) = @ARGV;
        my $t0 = time;
        my %at;
        while (keys %at < @socks && time - $t0 < 20) {
            for my $s (@socks) {
                next if $at{$s};
                my $c = IO::Socket::UNIX->new(Peer => $s) or next;
                print $c "show stat\n";
                while (<$c>) {
                    my @f = split /,/;
                    next unless $f[1] eq "node";
                    my $down = $f[17] =~ /^DOWN/;
                    $at{$s} = time if ($want eq "down") == !!$down;
                }
            }
            sleep 0.01;
        }
        printf "%.0f %.0f\n", map { (($at{$_} // 0) - $t0) * 1000 } @socks;
    ' "$1" "$dir/down_own.sock" "$dir/down_bridge.sock"
}

: > "$dir/times"
for i in $(seq 5); do
    kill "$node_pid"; wait "$node_pid" 2>/dev/null || true
    echo "down $(wait_both down)" >> "$dir/times"
    start_node
    echo "up $(wait_both up)" >> "$dir/times"
    sleep 1
done

perl -e '
    sub median { my @v = sort { $a <=> $b } @_; my $n = @v;
                 $n % 2 ? $v[$n / 2] : ($v[$n / 2 - 1] + $v[$n / 2]) / 2 }
    my %t;
    open my $fh, "<", $ARGV[0] or die;
    while (<$fh>) { my ($what, $own, $bridge) = split;
                    push @{$t{$what}{own}}, $own;
                    push @{$t{$what}{bridge}}, $bridge; }
    printf "\ndetection (node stopped, to DOWN), median of 5: HAProxy\x27s"
        . " own checks %.0f ms, bridge %.0f ms\n",
        median(@{$t{down}{own}}), median(@{$t{down}{bridge}});
    printf "recovery (node started, to UP), median of 5: HAProxy\x27s own"
        . " checks %.0f ms, bridge %.0f ms (interval 500 ms, fall 2, rise 2)\n",
        median(@{$t{up}{own}}), median(@{$t{up}{bridge}});
' "$dir/times"
