#!/usr/bin/env bash
# make bench, the key check: throughput and p99 latency of nginx balancing
# requests that carry a valid auth cookie, under round robin and under
# least_conn, each plain, through the cluster with the key checks off (the
# same log), and on (cluster_key, cluster_cookie, $cluster_key_check in the
# access log), measured in one run: interleaved, repeated, and each ratio
# the median of the ratios within each round.
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

key_on="cluster_key file=$dir/key;
        cluster_cookie name=^\\.ProGetAuth\$ login=^/log-in;"

# each variant: a name, a port, what its upstream has
variants=(
    "rr_plain:$(free_port):"
    "rr_off:$(free_port):cluster zone=rr_off:1m;"
    "rr_on:$(free_port):cluster zone=rr_on:1m; $key_on"
    "lc_plain:$(free_port):least_conn;"
    "lc_off:$(free_port):least_conn; cluster zone=lc_off:1m;"
    "lc_on:$(free_port):least_conn; cluster zone=lc_on:1m; $key_on"
)

{
    cat <<CONF
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

    # the same log for every variant: what the cluster costs, not a longer
    # line (\$cluster_node would say "-" for the plain upstreams)
    log_format keys '\$status \$upstream_addr \$cluster_key_check';

    proxy_http_version 1.1;
    proxy_set_header Connection "";
CONF

    for v in "${variants[@]}"; do
        name=${v%%:*}; rest=${v#*:}; port=${rest%%:*}; body=${rest#*:}
        upstream "$name" "$body"
        cat <<SERVER
    server {
        listen 127.0.0.1:$port;
        access_log $dir/$name.log keys buffer=256k;
        location / { proxy_pass http://$name; }
    }
SERVER
    done

    echo "}"
} > "$dir/front.conf"

"$NGINX_BIN" -p "$dir/" -c "$dir/front.conf" -e "$dir/front.log"
sleep 0.5

header=(-H "Cookie: theme=dark; $cookie; lang=en")

echo "bench-key: $rounds rounds of ${seconds}s, $connections connections," \
     "requests with a valid auth cookie among others; round robin (rr)" \
     "and least_conn (lc), each plain, with the cluster and the key check" \
     "off, and on"

for v in "${variants[@]}"; do
    rest=${v#*:}
    measure "${rest%%:*}" "${header[@]}" >/dev/null    # warm up
done

: > "$dir/results"

n=${#variants[@]}

for round in $(seq "$rounds"); do
    # rotate which goes first, so that drift favours none
    line="round $round:"
    for i in $(seq 0 $((n - 1))); do
        v=${variants[$(( (i + round) % n ))]}
        name=${v%%:*}; rest=${v#*:}
        r=$(measure "${rest%%:*}" "${header[@]}")
        echo "$round $name $r" >> "$dir/results"
        line="$line $name ${r% *}/s ${r#* }ms;"
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
    for my $m (qw(rr lc)) {
        my @rounds = sort { $a <=> $b } keys %{$rps{"${m}_plain"}};
        for my $what (qw(off on)) {
            my @r = map { $rps{"${m}_$what"}{$_} / $rps{"${m}_plain"}{$_} }
                    @rounds;
            my @d = map { ($p99{"${m}_$what"}{$_}
                           - $p99{"${m}_plain"}{$_}) * 1000 } @rounds;
            printf "%s: cluster, key check %-3s / plain: throughput %.3f"
                . " (median of per-round ratios; range %.3f to %.3f),"
                . " p99 added %+.0f us (median)\n", $m, $what, median(@r),
                (sort { $a <=> $b } @r)[0], (sort { $a <=> $b } @r)[-1],
                median(@d);
        }
        printf "%s: median throughput plain %.0f, off %.0f, on %.0f req/s\n",
            $m, map { median(values %{$rps{"${m}_$_"}}) } qw(plain off on);
    }
' "$dir/results"

kill -USR1 "$(cat "$dir/front.pid")"    # flush the access logs
sleep 0.5
for m in rr lc; do
    printf '%s: the access log of the check says: %s\n' "$m" \
        "$(awk '{ print $3 }' "$dir/${m}_on.log" | sort | uniq -c \
           | tr -s ' ' | tr '\n' ';')"
done

# The same front once more, in one process under callgrind: instructions
# per request of each variant, which the machine's noise does not move
# (valgrind counts instructions, not time).  Requests go one after another
# on one keep-alive connection, the same for each variant.
if command -v valgrind >/dev/null && command -v callgrind_control >/dev/null
then
    kill -QUIT "$(cat "$dir/front.pid")"
    sleep 0.5

    requests=${BENCH_INSTR_REQUESTS:-2000}

    valgrind --tool=callgrind --callgrind-out-file="$dir/cg.out" \
        "$NGINX_BIN" -p "$dir/" -c "$dir/front.conf" -e "$dir/front.log" \
        -g "daemon off; master_process off;" >"$dir/valgrind.log" 2>&1 &
    vg=$!
    sims+=("$vg")

    client() {
        perl -MIO::Socket::INET -e '
            my ($port, $n, $cookie) = @ARGV;
            my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1",
                                          PeerPort => $port) or die "$!";
            my $req = "GET / HTTP/1.1\r\nHost: localhost\r\n"
                    . "Cookie: theme=dark; $cookie; lang=en\r\n\r\n";
            for (1 .. $n) {
                print $s $req;
                my ($head, $len) = ("", 0);
                while (<$s>) {
                    $len = $1 if /^Content-Length:\s*(\d+)/i;
                    last if $_ eq "\r\n";
                }
                read $s, my $body, $len;
            }' "$@"
    }

    for _ in $(seq 100); do
        client "$(echo "${variants[0]}" | cut -d: -f2)" 1 "$cookie" \
            2>/dev/null && break
        sleep 0.2
    done

    echo
    echo "bench-key: instructions per request, callgrind, $requests" \
         "requests a variant on one keep-alive connection"

    : > "$dir/instructions"

    for v in "${variants[@]}"; do
        name=${v%%:*}; rest=${v#*:}; port=${rest%%:*}
        client "$port" 50 "$cookie"                          # warm up
        callgrind_control -z "$vg" >/dev/null 2>&1
        client "$port" "$requests" "$cookie"
        rm -f "$dir"/cg.out*
        callgrind_control -d "$vg" >/dev/null 2>&1
        [ -n "${BENCH_KEEP_PROFILES:-}" ] && cp "$dir"/cg.out* "$BENCH_KEEP_PROFILES/$name.cg"
        ir=$(cat "$dir"/cg.out* | sed -n 's/^summary: *\([0-9]*\).*/\1/p' \
             | tail -1)
        echo "$name $ir" >> "$dir/instructions"
    done

    perl -e '
        my %ir;
        open my $fh, "<", $ARGV[0] or die;
        while (<$fh>) { my ($n, $v) = split; $ir{$n} = $v / $ARGV[1]; }
        for my $m (qw(rr lc)) {
            printf "%s: instructions per request plain %.0f, cluster %.0f"
                . " (%+.1f%%), key check on %.0f (%+.1f%%)\n", $m,
                $ir{"${m}_plain"}, $ir{"${m}_off"},
                100 * ($ir{"${m}_off"} / $ir{"${m}_plain"} - 1),
                $ir{"${m}_on"},
                100 * ($ir{"${m}_on"} / $ir{"${m}_plain"} - 1);
            printf "%s: as throughput, were instructions all: cluster %.3f,"
                . " key check on %.3f of plain\n", $m,
                $ir{"${m}_plain"} / $ir{"${m}_off"},
                $ir{"${m}_plain"} / $ir{"${m}_on"};
        }
    ' "$dir/instructions" "$requests"

    kill -QUIT "$vg" 2>/dev/null || true
fi
