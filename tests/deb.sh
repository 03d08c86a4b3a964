#!/usr/bin/env bash
# make deb: libnginx-mod-http-cluster_VERSION-1_ARCH.deb, built from the
# tree by Debian's own tools, as Debian's packages of nginx modules are:
# dpkg-buildpackage, debhelper with nginx-dev's "nginx" sequence (its
# nginx_mod build system builds the module against the system's nginx
# source; dh_nginx writes mod-http-cluster.conf, enables it on install and
# adds the nginx ABI to Depends:), and shlibs for the libraries it links.
#
# DEB_OUT (build/deb) is where the package goes.

set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
version=$(sed -n 's/^#define CLUSTER_VERSION  *"\(.*\)"$/\1/p' \
          "$top/src/cluster_version.h")
out=${DEB_OUT:-$top/build/deb}
name=libnginx-mod-http-cluster

[ -n "$version" ] || { echo "deb: no version in src/cluster_version.h" >&2; exit 1; }

work=$(mktemp -d -t cluster-deb-XXXXXX)
trap 'rm -rf "$work"' EXIT

src="$work/$name-$version"
mkdir -p "$src/debian/source"

# what the module is built from, and its manual
cp -r "$top/config" "$top/src" "$top/ngx_cluster_module" "$top/README.md" \
    "$src/"

cd "$src/debian"

echo "3.0 (native)" > source/format

cat > control <<CONTROL
Source: $name
Section: httpd
Priority: optional
Maintainer: ngx_cluster_module authors <ngx-cluster@localhost>
Build-Depends: debhelper-compat (= 13), nginx-dev, libsodium-dev,
 libjansson-dev, libpq-dev, libpcre2-dev, libssl-dev, zlib1g-dev
Standards-Version: 4.6.2
Rules-Requires-Root: no

Package: $name
Architecture: any
Depends: \${misc:Depends}, \${shlibs:Depends}
Description: Inedo product clusters judged at the nginx load balancer
 ngx_http_cluster_module keeps the nodes of a ProGet, BuildMaster or Otter
 cluster in or out of rotation by their heartbeats, their /health, their
 versions and their EncryptionKey, under any of nginx's balancing methods,
 and shows the cluster at a status location (HTML, JSON, Prometheus).
CONTROL

cat > rules <<'RULES'
#!/usr/bin/make -f
export DEB_BUILD_MAINT_OPTIONS = hardening=+all

%:
	dh $@ --with nginx
RULES
chmod 755 rules

cat > changelog <<CHANGELOG
$name ($version) unstable; urgency=medium

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
cat > postinst <<'POSTINST'
#!/bin/sh
set -e

if [ "$1" = "configure" ] && getent passwd www-data >/dev/null; then
    install -d -o www-data -g www-data -m 0750 /var/lib/nginx/cluster
fi

#DEBHELPER#
POSTINST

cat > postrm <<'POSTRM'
#!/bin/sh
set -e

if [ "$1" = "purge" ]; then
    rm -rf /var/lib/nginx/cluster
fi

#DEBHELPER#
POSTRM

cat > "$name.docs" <<'DOCS'
README.md
DOCS

cat > README.Debian <<'README'
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

cd "$src"

if ! dpkg-buildpackage -us -uc -b > "$work/build.log" 2>&1; then
    tail -40 "$work/build.log" >&2
    echo "deb: dpkg-buildpackage failed" >&2
    exit 1
fi

mkdir -p "$out"
cp "$work"/"$name"_*.deb "$out/"
ls "$out"/"$name"_"$version"_*.deb
