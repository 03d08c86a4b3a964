#!/usr/bin/env bash
# make static: nginx 1.22.1 built from source with the module linked in
# (./configure --add-module), and the tests of what a static build could
# lose run against it: the key check's header filter, the balancer, the
# status.  nginx's source comes from Debian's archive (apt-get source, with
# a source list of its own, nothing changed on the machine), checked
# against the release's SHA-256.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
dir=$top/build/static
version=1.22.1
sha256=9ebb333a9e82b952acd3e2b4aeb1d4ff6406f72491bab6cd9fe69f0dea737f31
src=$dir/nginx-$version

mkdir -p "$dir"

if [ ! -d "$src" ]; then
    if [ ! -f "$dir/nginx_$version.orig.tar.gz" ]; then
        echo "static: nginx $version's source from Debian's archive"
        mkdir -p "$dir/apt/lists/partial"
        echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg]" \
             "http://deb.debian.org/debian bookworm main" \
             > "$dir/apt/sources.list"
        apt=(-q -o "Dir::Etc::SourceList=$dir/apt/sources.list"
             -o Dir::Etc::SourceParts=/dev/null
             -o "Dir::State::Lists=$dir/apt/lists"
             -o APT::Sandbox::User=root)
        apt-get "${apt[@]}" update > "$dir/apt/update.log" 2>&1 \
            || { tail -5 "$dir/apt/update.log"; exit 1; }
        (cd "$dir" && apt-get "${apt[@]}" source --download-only \
                          nginx/bookworm > apt/source.log 2>&1) \
            || { tail -5 "$dir/apt/source.log"; exit 1; }
    fi

    echo "$sha256  $dir/nginx_$version.orig.tar.gz" | sha256sum -c --quiet

    tar -xzf "$dir/nginx_$version.orig.tar.gz" -C "$dir"
fi

if [ ! -f "$src/objs/Makefile" ] || [ "$top/config" -nt "$src/objs/Makefile" ]
then
    echo "static: configuring nginx $version with the module linked in"
    (cd "$src" && ./configure --with-cc-opt="-O1" --add-module="$top" \
                     > configure.log 2>&1) \
        || { tail -20 "$src/configure.log"; exit 1; }
fi

# nginx's own Makefile knows the module's sources: only what changed
(cd "$src" && make -j2 > make.log 2>&1) || { tail -30 "$src/make.log"; exit 1; }

# the tests whose subject a static build could lose
CLUSTER_MODULE=static CLUSTER_SIM="$1" CLUSTER_SANITIZE=0 \
NGINX_BIN="$src/objs/nginx" \
CLUSTER_ARTIFACTS="$dir/artifacts" \
prove -I "$top/t/lib" "$top/t/key_check.t" "$top/t/key_cross.t" \
    "$top/t/balancer.t" "$top/t/methods.t" "$top/t/status.t"
