#!/usr/bin/env bash
# make deb: two packages from one tree, by one dpkg-buildpackage run of
# Debian's own tools, for the release it runs on:
#
# - libnginx-mod-http-cluster_VERSION_ARCH.deb, as Debian's packages of
#   nginx modules are built: debhelper with nginx-dev's "nginx" sequence
#   (its nginx_mod build system builds the module against the system's
#   nginx source; dh_nginx writes mod-http-cluster.conf, enables it on
#   install and adds the nginx ABI to Depends:);
# - haproxy-cluster-bridge_VERSION_ARCH.deb, the HAProxy bridge
#   (cluster.lua and cluster_bridge.so in /usr/lib/haproxy-cluster/, as
#   "make install-bridge PREFIX=/usr" puts them), built for the Lua of the
#   release's HAProxy ("haproxy -vv" says which) and depending on that
#   HAProxy's branch and Lua library.
#
# Both depend on the libraries they link through shlibs.  DEB_OUT
# (build/deb) is where the packages go.

set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
version=$(sed -n 's/^#define CLUSTER_VERSION  *"\(.*\)"$/\1/p' \
          "$top/src/cluster_version.h")
out=${DEB_OUT:-$top/build/deb}
source=ngx-cluster-module
module=libnginx-mod-http-cluster
bridge=haproxy-cluster-bridge

die() { echo "deb: $*" >&2; exit 1; }

[ -n "$version" ] || die "no version in src/cluster_version.h"

# The bridge is built for the HAProxy it will run in: its Lua (a module
# built for Lua 5.3 does not load in a HAProxy built with 5.4), and that
# HAProxy's branch (x.y), whose Lua API the bridge was tested against.
[ -x /usr/sbin/haproxy ] || die "the bridge is built for the release's" \
    "HAProxy: apt-get install haproxy"
lua=$(/usr/sbin/haproxy -vv 2>/dev/null \
      | sed -n 's/^Built with Lua version : Lua \([0-9]*\.[0-9]*\).*/\1/p')
[ -n "$lua" ] || die "/usr/sbin/haproxy has no Lua: the bridge cannot run in it"
haproxy_version=$(dpkg-query -W -f='${Version}' haproxy 2>/dev/null) \
    || die "haproxy is not installed from a Debian package"
epoch=$(echo "$haproxy_version" | sed -n 's/^\([0-9]*:\).*/\1/p')
branch=$(echo "${haproxy_version#"$epoch"}" \
         | sed -n 's/^\([0-9]*\.[0-9]*\).*/\1/p')
next=${branch%.*}.$(( ${branch#*.} + 1 ))
liblua=$(dpkg-query -W -f='${Depends}' haproxy | tr ',' '\n' \
         | sed -n "s/^ *\\(liblua${lua}-[0-9a-z]*\\).*/\\1/p" | head -1)
[ -n "$liblua" ] || die "haproxy does not depend on Lua $lua's library"

work=$(mktemp -d -t cluster-deb-XXXXXX)
trap 'rm -rf "$work"' EXIT

src="$work/$source-$version"
mkdir -p "$src/debian/source"

# what the module and the bridge are built from, and the manual
cp -r "$top/config" "$top/src" "$top/ngx_cluster_module" \
    "$top/haproxy-lua-bridge" "$top/Makefile" "$top/README.md" "$src/"

cd "$src/debian"

echo "3.0 (native)" > source/format

cat > control <<CONTROL
Source: $source
Section: httpd
Priority: optional
Maintainer: ngx_cluster_module authors <ngx-cluster@localhost>
Build-Depends: debhelper-compat (= 13), nginx-dev, libsodium-dev,
 libjansson-dev, libpq-dev, libpcre2-dev, libssl-dev, zlib1g-dev,
 haproxy, liblua${lua}-dev
Standards-Version: 4.6.2
Rules-Requires-Root: no

Package: $module
Architecture: any
Depends: \${misc:Depends}, \${shlibs:Depends}
Description: Inedo product clusters judged at the nginx load balancer
 ngx_http_cluster_module keeps the nodes of a ProGet, BuildMaster or Otter
 cluster in or out of rotation by their heartbeats, their /health, their
 versions and their EncryptionKey, under any of nginx's balancing methods,
 and shows the cluster at a status location (HTML, JSON, Prometheus).

Package: $bridge
Section: net
Architecture: any
Depends: \${misc:Depends}, \${shlibs:Depends},
 haproxy (>= ${epoch}${branch}~), haproxy (<< ${epoch}${next}~), $liblua
Description: Inedo product clusters judged at the HAProxy load balancer
 The HAProxy bridge of ngx_cluster_module: the same judgement of the nodes
 of a ProGet, BuildMaster or Otter cluster (heartbeats, /health, versions,
 EncryptionKey) in HAProxy $branch with Lua $lua, through HAProxy's own
 server states, and the same status page. cluster.lua, loaded with
 lua-load, and its C module cluster_bridge.so, in /usr/lib/haproxy-cluster/.
CONTROL

# The bridge by the tree's own Makefile, for the Lua of the release's
# HAProxy, with Debian's hardening flags.  LUA= names it to the Makefile;
# the headers' folder is also given first in CC, where it wins over a
# folder the Makefile's rule may name itself.
cat > rules <<RULES
#!/usr/bin/make -f
export DEB_BUILD_MAINT_OPTIONS = hardening=+all
include /usr/share/dpkg/buildflags.mk

BRIDGE_MAKE = \$(MAKE) BUILD=debian/bridge-build LUA=$lua \\
	CC="\$(CC) -I/usr/include/lua$lua \$(CPPFLAGS) \$(CFLAGS) \$(LDFLAGS)"

%:
	dh \$@ --with nginx

execute_after_dh_auto_build:
	\$(BRIDGE_MAKE) bridge

# the bridge loads in the release's haproxy: haproxy -c says so, or why not
execute_after_dh_auto_test:
ifeq (,\$(filter nocheck,\$(DEB_BUILD_OPTIONS)))
	printf '# no cluster\\n' > debian/bridge-build/cluster.conf
	printf '%s\\n' global \\
	    '    setenv CLUSTER_CONF \$(CURDIR)/debian/bridge-build/cluster.conf' \\
	    '    lua-load \$(CURDIR)/debian/bridge-build/haproxy/cluster.lua' \\
	    'frontend status' '    mode http' '    bind 127.0.0.1:8080' \\
	    '    http-request use-service lua.cluster_status' \\
	    > debian/bridge-build/haproxy.cfg
	/usr/sbin/haproxy -c -f debian/bridge-build/haproxy.cfg
endif

execute_after_dh_auto_install:
	\$(BRIDGE_MAKE) install-bridge PREFIX=/usr \\
	    DESTDIR=\$(CURDIR)/debian/$bridge
RULES
chmod 755 rules

echo usr/lib/nginx/modules/ngx_http_cluster_module.so > "$module.install"

cat > changelog <<CHANGELOG
$source ($version) unstable; urgency=medium

  * Built from the project's tree by make deb.

 -- ngx_cluster_module authors <ngx-cluster@localhost>  $(date -R)
CHANGELOG

cat > copyright <<'COPYRIGHT'
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: ngx_cluster_module

Files: *
Copyright: ngx_cluster_module authors
License: BSD-2-Clause
 Redistribution and use in source and binary forms, with or without
 modification, are permitted provided that the conditions of the
 2-clause BSD licence are met.
COPYRIGHT

# the state folder: the workers' (www-data), made on install, gone on purge
cat > "$module.postinst" <<'POSTINST'
#!/bin/sh
set -e

if [ "$1" = "configure" ] && getent passwd www-data >/dev/null; then
    install -d -o www-data -g www-data -m 0750 /var/lib/nginx/cluster
fi

#DEBHELPER#
POSTINST

cat > "$module.postrm" <<'POSTRM'
#!/bin/sh
set -e

if [ "$1" = "purge" ]; then
    rm -rf /var/lib/nginx/cluster
fi

#DEBHELPER#
POSTRM

for p in "$module" "$bridge"; do
    echo README.md > "$p.docs"
done

cat > "$module.README.Debian" <<'README'
libnginx-mod-http-cluster for Debian
====================================

The module is in /usr/lib/nginx/modules/ngx_http_cluster_module.so, and
loaded by /etc/nginx/modules-enabled/50-mod-http-cluster.conf (a link to
/usr/share/nginx/modules-available/mod-http-cluster.conf), made on install
and removed on purge. The package depends on the nginx ABI it was built
for: an upgrade of nginx to another ABI waits for a package built for it,
instead of failing at start with "module is not binary compatible".

An upstream becomes a cluster with "cluster zone=NAME:SIZE;" and the other
cluster_* directives; see /usr/share/doc/libnginx-mod-http-cluster/README.md.
The state file may live in /var/lib/nginx/cluster/, which belongs to the
workers' user (www-data):

    cluster_state_file /var/lib/nginx/cluster/state.json;

Then: nginx -t && systemctl reload nginx.
README

cat > "$bridge.README.Debian" <<README
haproxy-cluster-bridge for Debian
=================================

The bridge is /usr/lib/haproxy-cluster/cluster.lua, which loads its C
module, /usr/lib/haproxy-cluster/cluster_bridge.so, from its own folder.
It was built for HAProxy $branch with Lua $lua, and the package depends on
them: a bridge built for another Lua does not load ("version mismatch"),
so an upgrade of HAProxy to another branch waits for a package built for
it.

In /etc/haproxy/haproxy.cfg:

    global
        setenv CLUSTER_CONF /etc/haproxy/cluster.conf
        lua-load /usr/lib/haproxy-cluster/cluster.lua

    frontend ...
        http-request use-service lua.cluster_status if { path_beg /cluster }

and in /etc/haproxy/cluster.conf the cluster_* directives of each backend
that is a cluster ("backend NAME { ... }"); see "HAProxy" in
/usr/share/doc/haproxy-cluster-bridge/README.md. Debian's haproxy.cfg has
"chroot /var/lib/haproxy": a cluster_state_file must be the same file
before the chroot (read at the start) and inside it (written).

Then: haproxy -c -f /etc/haproxy/haproxy.cfg && systemctl reload haproxy.
README

cd "$src"

if ! dpkg-buildpackage -us -uc -b > "$work/build.log" 2>&1; then
    tail -40 "$work/build.log" >&2
    die "dpkg-buildpackage failed"
fi

mkdir -p "$out"
for p in "$module" "$bridge"; do
    cp "$work/${p}_${version}_"*.deb "$out/"
    ls "$out/${p}_${version}_"*.deb
done
