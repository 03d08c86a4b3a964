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
        [ -f "$pid" ] && kill -QUIT "$(cat "$pid")" 2>/dev/null
    done
    for pid in "${sims[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    sleep 0.3
    rm -rf "$dir"
}

trap bench_stop EXIT

free_port() {
    perl -MIO::Socket::INET -e '
        my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1",
                                      LocalPort => 0, Listen => 1) or die;
        print $s->sockport, "\n";'
}

temp_paths="
    client_body_temp_path $dir/client_body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
"
