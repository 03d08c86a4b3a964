#!/bin/sh
# Installs, from Debian's archive, every package the project builds, tests,
# benchmarks and demonstrates with ("setup.sh fuzz": also what the fuzzer
# needs; "setup.sh matrix": also debootstrap and zstd for make matrix's
# roots), on Debian 12, 13 and unstable (make matrix runs it in roots of
# each).  Idempotent: a package already present is not asked for again,
# and apt-get is not run at all when nothing is missing.
set -eu

packages="
    build-essential
    nginx-core
    nginx-dev
    libpcre2-dev
    libssl-dev
    openssl
    zlib1g-dev
    libsodium-dev
    libjansson-dev
    libpq-dev
    postgresql
    wrk
    curl
    procps
    chromium
    prometheus
    debhelper
    dpkg-dev
    haproxy
"

if [ "${1:-}" = fuzz ]; then
    packages="$packages clang"
fi

# make matrix, on the machine itself: the roots' makers and their cache
if [ "${1:-}" = matrix ]; then
    packages="$packages debootstrap zstd"
fi

# the packages of $* that are not installed
missing() {
    for p in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null \
             | grep -q '^install ok installed$'
        then
            printf ' %s' "$p"
        fi
    done
}

# installs $* from the archive, with apt-get update first
apt_install() {
    echo "setup: installing $*"
    if [ "$(id -u)" != 0 ]; then
        echo "setup: these packages are missing and installing them needs root: $*" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    if [ -z "${updated:-}" ]; then
        apt-get update -q >/dev/null
        updated=1
    fi
    # nginx's postinst starts the service on port 80; the tests never use
    # it, so policy-rc.d keeps it from starting during this install.
    policy=/usr/sbin/policy-rc.d
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' > "$policy"
        chmod 755 "$policy"
        trap 'rm -f "$policy"' EXIT
    fi
    apt-get install -y -q --no-install-recommends "$@" >/dev/null
}

todo=$(missing $packages)
[ -z "$todo" ] || apt_install $todo

# The bridge is built for the Lua that HAProxy runs: "Built with Lua
# version : Lua 5.4.7" in haproxy -vv (Debian 12's HAProxy 2.6 has 5.3,
# Debian 13's 3.0 and unstable's have 5.4).
lua=$(haproxy -vv 2>/dev/null \
      | sed -n 's/^Built with Lua version : Lua \([0-9]*\.[0-9]*\).*/\1/p')
if [ -z "$lua" ]; then
    echo "setup: haproxy -vv names no Lua version: is it built with Lua?" >&2
    exit 1
fi
later="liblua$lua-dev"

# the sanitizers' runtime of the installed clang, for libFuzzer
if [ "${1:-}" = fuzz ]; then
    clang=$(clang --version | sed -n 's/.*clang version \([0-9]*\)\..*/\1/p;q')
    later="$later libclang-rt-$clang-dev"
fi

todo=$(missing $later)
[ -z "$todo" ] || apt_install $todo

[ -z "${updated:-}" ] || echo "setup: done"
