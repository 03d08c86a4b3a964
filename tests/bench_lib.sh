# Shared by the benchmark scripts: a folder of their own, which goes at
# exit with every nginx started from it (their pid files in it) and every
# process listed in $sims; free loopback ports; nginx's temporary paths.
#
#   . tests/bench_lib.sh NAME

dir=$(mktemp -d -t "cluster-$1-XXXXXX")
chmod 755 "$dir"

sims=()

bench_stop() {
    local pid

    for pid in "$dir"/*.pid; do
        [ -f "$pid" ] && kill -QUIT "$(cat "$pid" 2>/dev/null)" 2>/dev/null
    done
    for pid in "${sims[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    sleep 0.3
    rm -rf "$dir"
}

trap bench_stop EXIT

# below the ephemeral range (32768 up), where wrk's connections take theirs
free_port() {
    perl -MIO::Socket::INET -e '
        for (1 .. 1000) {
            my $port = 10000 + int(rand(22000));
            my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1",
                                          LocalPort => $port, Listen => 1)
                or next;
            print "$port\n";
            exit 0;
        }
        die "no free port\n";'
}

temp_paths="
    client_body_temp_path $dir/client_body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
"

# one wrk run against a port of loopback, on core 1; more arguments go to
# wrk (a header); prints "requests/s p99-ms"
measure() {
    local port=$1
    shift

    taskset -c 1 wrk -t1 -c"$connections" -d"${seconds}s" --latency "$@" \
        "http://127.0.0.1:$port/" | perl -ne '
        $rps = $1 if /^Requests\/sec:\s+([\d.]+)/;
        if (/^\s+99%\s+([\d.]+)(us|ms|s)\b/) {
            $p99 = $1 * { us => 0.001, ms => 1, s => 1000 }->{$2};
        }
        $errors = 1 if /Non-2xx|Socket errors/;
        END {
            die "wrk reported errors\n" if $errors;
            printf "%.0f %.3f\n", $rps, $p99;
        }'
}

# three static backends in one nginx worker on core 1, never the
# bottleneck: start_backends PORT PORT PORT
start_backends() {
    cat > "$dir/backend.conf" <<CONF
pid $dir/backend.pid;
error_log $dir/backend.log warn;
worker_processes 1;
worker_cpu_affinity 10;

events {
    worker_connections 4096;
}

http {
    access_log off;
    $temp_paths
    keepalive_requests 100000;

    server {
        listen 127.0.0.1:$1;
        listen 127.0.0.1:$2;
        listen 127.0.0.1:$3;

        location / {
            return 200 "a static answer from a backend\n";
        }
    }
}
CONF

    "${NGINX_BIN:-/usr/sbin/nginx}" -p "$dir/" -c "$dir/backend.conf" \
        -e "$dir/backend.log"
}
