#!/bin/sh
# Installs, from Debian's archive, every package the project builds, tests,
# benchmarks and demonstrates with ("setup.sh fuzz": also what the fuzzer
# needs).  Idempotent: a package already present is not asked for again,
# and apt-get is not run at all when nothing is missing.
set -eu

packages="
    build-essential
    nginx-core
    nginx-dev
    libpcre2-dev
    libssl-dev
    zlib1g-dev
    libsodium-dev
    libjansson-dev
    libpq-dev
    postgresql
    wrk
    curl
    chromium
    prometheus
    debhelper
    dpkg-dev
    haproxy
    liblua5.3-dev
"

if [ "${1:-}" = fuzz ]; then
    packages="$packages clang libclang-rt-14-dev"
fi

missing=""
for p in $packages; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'
    then
        missing="$missing $p"
    fi
done

if [ -z "$missing" ]; then
    exit 0
fi

echo "setup: installing$missing"

if [ "$(id -u)" != 0 ]; then
    echo "setup: these packages are missing and installing them needs root:$missing" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
# nginx's postinst starts the service on port 80; the tests never use it,
# so policy-rc.d keeps it from starting during this install.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod 755 "$policy"
    trap 'rm -f "$policy"' EXIT
fi
apt-get install -y -q --no-install-recommends $missing >/dev/null
echo "setup: done"
