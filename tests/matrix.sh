#!/usr/bin/env bash
# make matrix: the integration suite against each platform the project
# supports, each result printed with the platform, the versions found and
# the counts, then the README's "Supported platforms" table checked against
# what ran.  The legs (MATRIX_LEGS= runs some of them):
#
#   debian12   the machine's own Debian 12: make check SANITIZE=0 and 1
#              (a record that make check wrote for this very tree is used
#              instead of running it again: CI runs make test just before)
#   debian13   a Debian 13 root made by debootstrap under build/matrix/,
#              set up by the project's own tests/setup.sh, the whole suite
#              (release build), t/deb.t included
#   unstable   the same in a Debian unstable root: the newest nginx and
#              HAProxy Debian has
#   haproxy34  HAProxy from Debian experimental, unpacked beside
#              unstable's in its root (/opt/haproxy-3.4), the HAProxy files
#              run with HAPROXY_BIN pointing at it
#   nginx131   nginx mainline from NGINX_UPSTREAM (a tree of nginx's release
#              tag, checked against SHA256SUMS beside it), built in the
#              unstable root with Debian's configure flags and the module,
#              the nginx files run with NGINX_BIN pointing at it
#
# Roots are made once and kept, as tarballs, in MATRIX_CACHE
# (/var/cache/ngx-cluster-matrix), keyed by what makes them (this script's
# root recipe, tests/setup.sh, the release, the week); each run unpacks a
# fresh copy.  Mounts in the roots are undone on every exit, and what the
# tests leave running in a root is stopped.
#
#   tests/matrix.sh                  the matrix
#   tests/matrix.sh record S RC LOG SECONDS   make check's record (below)
#   tests/matrix.sh unmount          undoes mounts under build/ (make clean)
#   tests/matrix.sh readme           the README's table from the last run
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
out=$top/build/matrix
cache=${MATRIX_CACHE:-/var/cache/ngx-cluster-matrix}
mirror=${MATRIX_MIRROR:-http://deb.debian.org/debian}
upstream=${NGINX_UPSTREAM:-}
all_legs="debian12 debian13 unstable haproxy34 nginx131"
legs=${MATRIX_LEGS:-$all_legs}
path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# files of t/ that need HAProxy, and those only a package installs
haproxy_files="t/haproxy*.t t/demo_haproxy.t"

say() { printf 'matrix: %s\n' "$*"; }

# A hash of the tree's files as git sees them (tracked and new, not
# ignored), with their contents: make check's record belongs to one tree.
tree_hash() {
    (cd "$top" && git rev-parse --git-dir >/dev/null 2>&1 || exit 1
     git ls-files -co --exclude-standard -z \
         | xargs -0 sha256sum 2>/dev/null | sha256sum | cut -c1-16)
}

# The counts of a make check's log, as shell assignments: files, failed,
# skipped, tests, unit ("N passed, N failed"), failed_files, result.
counts() {
    local log=$1
    perl -ne '
        $unit = "$1 passed, $2 failed" if /^(\d+) passed, (\d+) failed$/;
        ($files, $tests) = ($1, $2) if /^Files=(\d+), Tests=(\d+)/;
        $result = $1 if /^Result: (\w+)/;
        $skipped++ if /^\S+\.t \.+ skipped/;
        $report = 1 if /^Test Summary Report/;
        push @failed, $1 if $report && /^(\S+\.t)\s+\(Wstat/;
        END {
            $_ //= "" for $unit, $result;
            printf "files=%d failed=%d skipped=%d tests=%d unit=\"%s\" "
                 . "failed_files=\"%s\" result=%s\n",
                 $files // 0, scalar @failed, $skipped // 0, $tests // 0,
                 $unit, join(" ", @failed), $result || "none";
        }' "$log"
}

# make check's record: "record SANITIZE RC LOG SECONDS", written when the
# whole suite ran against the machine's nginx, for the matrix's debian12
# leg to reuse for the same tree.
record() {
    local san=$1 rc=$2 log=$3 secs=$4 hash
    [ -z "${T:-}" ] || return 0
    [ "${NGINX_BIN:-/usr/sbin/nginx}" = /usr/sbin/nginx ] || return 0
    [ "${NGINX_SRC:-/usr/share/nginx/src}" = /usr/share/nginx/src ] || return 0
    [ "${HAPROXY_BIN:-/usr/sbin/haproxy}" = /usr/sbin/haproxy ] || return 0
    hash=$(tree_hash) || return 0
    mkdir -p "$out/records"
    { echo "tree=$hash"; echo "rc=$rc"; echo "secs=$secs"; counts "$log"; } \
        > "$out/records/debian12-$san"
    cp "$log" "$out/records/debian12-$san.log"
}

# --- mounts and processes of the roots -------------------------------------

mounted=()

mount_root() {
    local root=$1
    mount -t proc proc "$root/proc" || return 1
    mounted+=("$root")
    # rslave: unmounting the copies never reaches the machine's own
    mount --rbind /sys "$root/sys" && mount --make-rslave "$root/sys" \
        && mount --rbind /dev "$root/dev" && mount --make-rslave "$root/dev"
}

# Stops every process whose root is this one (what the tests left running).
kill_root() {
    local root=$1 sig p pids
    for sig in TERM TERM KILL; do
        pids=()
        for p in /proc/[0-9]*; do
            [ "$(readlink "$p/root" 2>/dev/null)" = "$root" ] \
                && pids+=("${p#/proc/}")
        done
        [ ${#pids[@]} = 0 ] && return 0
        say "stopping what was left running in $root:" \
            "$(ps -o comm= -p "$(IFS=,; echo "${pids[*]}")" | sort -u | tr '\n' ' ')"
        kill -"$sig" "${pids[@]}" 2>/dev/null
        sleep 2
    done
}

# Every mount under $1, deepest first.
mounts_under() {
    findmnt -rn -o TARGET | awk -v d="$1/" 'index($0, d) == 1' | sort -r
}

umount_root() {
    local root=$1 m
    kill_root "$root"
    for m in dev sys proc; do
        mountpoint -q "$root/$m" || continue
        umount -R "$root/$m" 2>/dev/null || umount -R -l "$root/$m"
    done
    if [ -n "$(mounts_under "$root")" ]; then
        say "still mounted under $root:" $(mounts_under "$root") >&2
        return 1
    fi
}

# Unmounts root $1 and forgets it.
release_root() {
    local root=$1 r rest=()
    umount_root "$root"
    for r in ${mounted[@]+"${mounted[@]}"}; do
        [ "$r" = "$root" ] || rest+=("$r")
    done
    mounted=(${rest[@]+"${rest[@]}"})
}

cleanup() {
    while [ ${#mounted[@]} != 0 ]; do
        release_root "${mounted[0]}"
    done
}

# For make clean: nothing under build/ may stay mounted before rm -rf.
unmount_all() {
    local m
    for m in $(mounts_under "$top/build"); do
        case $m in */proc|*/sys|*/dev) ;; *) continue ;; esac
        kill_root "${m%/*}"
        umount -R "$m" 2>/dev/null || umount -R -l "$m"
    done
    if [ -n "$(mounts_under "$top/build")" ]; then
        say "still mounted, build/ is not removed:" \
            $(mounts_under "$top/build") >&2
        return 1
    fi
}

# Runs $2... in root $1 with a clean environment; in the background, so
# that a TERM or INT to the matrix is acted on at once (the EXIT trap then
# stops what runs in the root and unmounts it).
in_root() {
    local root=$1
    shift
    chroot "$root" /usr/bin/env -i PATH=$path HOME=/root LANG=C.UTF-8 \
        TERM=dumb "$@" &
    wait $!
}

# --- the roots ---------------------------------------------------------------

# Makes the root of Debian release $1 in $2: debootstrap, then the
# project's own tests/setup.sh; unstable's also gets HAProxy from
# experimental, unpacked in /opt/haproxy-3.4 beside its own.
make_root() {
    local rel=$1 root=$2 deb deps
    debootstrap --variant=minbase "$rel" "$root" "$mirror" \
        > "$root.log" 2>&1 || { tail -5 "$root.log"; return 1; }
    cp /etc/resolv.conf "$root/etc/resolv.conf"
    printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"
    chmod 755 "$root/usr/sbin/policy-rc.d"
    if [ "$rel" = sid ]; then
        echo "deb $mirror experimental main" \
            > "$root/etc/apt/sources.list.d/experimental.list"
        # unstable's Release files expire within days; a mirror or a
        # snapshot of the archive may serve one past its date (this
        # machine's does), which apt refuses outright
        echo 'Acquire::Check-Valid-Until "false";' \
            > "$root/etc/apt/apt.conf.d/99matrix"
    fi
    mount_root "$root" || return 1
    mkdir -p "$root/matrix"
    cp "$top/tests/setup.sh" "$root/matrix/setup.sh"
    in_root "$root" sh /matrix/setup.sh >> "$root.log" 2>&1 \
        || { tail -5 "$root.log"; return 1; }
    if [ "$rel" = sid ]; then
        # a package of experimental's HAProxy would replace unstable's:
        # its files go beside it instead, its libraries from unstable
        in_root "$root" sh -c 'cd /tmp && apt-get download -q -t experimental haproxy \
                && dpkg-deb -x haproxy_*.deb /opt/haproxy-3.4 \
                && dpkg-deb -f haproxy_*.deb Depends > /opt/haproxy-3.4/DEPENDS \
                && rm haproxy_*.deb' >> "$root.log" 2>&1 \
            || { tail -5 "$root.log"; return 1; }
        # its libraries (the rest is for its maintainer scripts)
        deps=$(sed 's/([^)]*)//g; s/|[^,]*//g; s/,/ /g' \
                   "$root/opt/haproxy-3.4/DEPENDS" | tr ' ' '\n' | grep '^lib')
        in_root "$root" apt-get install -y -q --no-install-recommends $deps \
            >> "$root.log" 2>&1 || { tail -5 "$root.log"; return 1; }
        in_root "$root" /opt/haproxy-3.4/usr/sbin/haproxy -v >> "$root.log" 2>&1 \
            || { tail -5 "$root.log"; return 1; }
    fi
    in_root "$root" apt-get clean
    rm -rf "$root/matrix"
    release_root "$root"
}

root_key() {
    { declare -f make_root; cat "$top/tests/setup.sh"; echo "$1"
      date +%G-%V; } | sha256sum | cut -c1-16
}

# Puts a fresh root of release $1 at $2 (from the cache, else made and
# cached) and mounts it.  Sets root_how.
get_root() {
    local rel=$1 root=$2 key tarball
    key=$(root_key "$rel")
    tarball=$cache/$rel-$key.tar.zst
    [ -z "$(mounts_under "$root")" ] || umount_root "$root" || return 1
    rm -rf --one-file-system "$root" "$root.log"
    mkdir -p "$root"
    if [ -f "$tarball" ]; then
        root_how="cached"
        tar -C "$root" -I zstd -xf "$tarball" || return 1
    else
        root_how="made"
        make_root "$rel" "$root" || return 1
        mkdir -p "$cache"
        rm -f "$cache/$rel"-*.tar.zst
        tar -C "$root" --one-file-system -I 'zstd -T0 -3' -cf "$tarball.new" . \
            && mv "$tarball.new" "$tarball"
    fi
    cp /etc/resolv.conf "$root/etc/resolv.conf"
    mount_root "$root"
}

# Copies the project's files (tracked and new, not ignored) into $1.
copy_tree() {
    local dest=$1
    rm -rf "$dest"
    mkdir -p "$dest"
    if (cd "$top" && git rev-parse --git-dir >/dev/null 2>&1); then
        (cd "$top" && git ls-files -co --exclude-standard -z \
             | tar --null --ignore-failed-read -T - -cf - 2>/dev/null) \
            | tar -C "$dest" -xf -
    else
        (cd "$top" && tar --exclude=./build -cf - .) | tar -C "$dest" -xf -
    fi
}

# --- versions and results ------------------------------------------------------

# Versions found by running $@ as a prefix (in_root ROOT, or nothing),
# with nginx and haproxy at $nginx and $haproxy: sets v_nginx, v_haproxy,
# v_lua, v_openssl.
versions() {
    local nginx=$1 haproxy=$2
    shift 2
    v_nginx=$("$@" "$nginx" -v 2>&1 | sed -n 's|.*nginx/\([^ ]*\).*|\1|p')
    v_haproxy=$("$@" "$haproxy" -v 2>&1 \
                | sed -n 's/^HAProxy version \([^ ]*\).*/\1/p')
    v_haproxy=${v_haproxy%%-*}    # not Debian's revision (-1+deb12u4)
    v_lua=$("$@" "$haproxy" -vv 2>&1 \
            | sed -n 's/^Built with Lua version : Lua \([^ ]*\).*/\1/p')
    v_openssl=$("$@" openssl version 2>&1 | awk '{ print $2 }')
}

legs_passed=0
legs_failed=0
rows=()
ran=()

# The leg's line, and its row of the README's table.  $1 leg, $2 platform,
# $3 what was tested, $4 verdict (pass, fail: ..., skipped: ...), $5 counts.
result() {
    local leg=$1 platform=$2 tested=$3 verdict=$4 detail=$5
    ran+=("$leg")
    case $verdict in
        pass) legs_passed=$((legs_passed + 1)) ;;
        skipped*) ;;
        *) legs_failed=$((legs_failed + 1)) ;;
    esac
    printf 'matrix: %-9s %s: nginx %s, HAProxy %s, Lua %s, OpenSSL %s: %s%s\n' \
        "$leg" "$platform" "${v_nginx:--}" "${v_haproxy:--}" "${v_lua:--}" \
        "${v_openssl:--}" "$verdict" "${detail:+ ($detail)}"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$leg" "$platform" "${v_nginx:--}" \
        "${v_haproxy:--}" "${v_lua:--}" "$tested" "$verdict" >> "$out/rows"
}

# "files=... " of counts() as words for a person
describe() {
    local files failed skipped tests unit failed_files result
    eval "$(counts "$1")"
    printf '%s files: %s passed, %s failed, %s skipped; %s tests' \
        "$files" $((files - failed - skipped)) "$failed" "$skipped" "$tests"
    [ -z "$unit" ] || printf '; unit: %s' "$unit"
}

# The verdict of a log: pass, or fail: what failed.
verdict() {
    local log=$1 rc=$2 files failed skipped tests unit failed_files result
    eval "$(counts "$log")"
    if [ "$rc" = 0 ] && [ "$result" = PASS ]; then
        echo pass
    elif [ -n "$failed_files" ]; then
        echo "fail: $failed_files"
    else
        echo "fail: did not build or run (see the log)"
    fi
}

# What a failed leg's log says: the failing files, their diagnostics (the
# tests print nginx's and haproxy's error logs there), or the build's end.
show_failure() {
    local log=$1 files failed skipped tests unit failed_files result
    eval "$(counts "$log")"
    say "the log: $log"
    if [ "$files" = 0 ]; then
        tail -25 "$log" | sed 's/^/    /'
        return
    fi
    perl -ne 'print "    $_" if /^#/ && !/^#\s*$/ && !$seen{$_}++ && $n++ < 80' "$log"
    perl -ne 'print "    $_" if /^Test Summary Report/ .. eof' "$log"
}

secs() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }

# The suite in a root's copy of the tree, as make check runs it, step by
# step: a bridge that does not build still leaves the nginx files' results
# (its files then fail, saying why).  $1 root, $2 the copy, $3... prove's
# make variables.
suite_in_root() {
    local root=$1 src=$2
    shift 2
    in_root "$root" sh -c 'cd "$1" && shift \
        && make unit && make module sim "$@" \
        && { make bridge "$@" \
             || echo "matrix: the bridge did not build: its tests fail"; } \
        && make -o build/release/haproxy/cluster_bridge.so prove "$@"' \
        suite "$src" "$@"
}

# --- the legs ------------------------------------------------------------------

leg_debian12() {
    local san rc hash log ok=1 detail="" how=""
    versions /usr/sbin/nginx /usr/sbin/haproxy
    hash=$(tree_hash) || hash=none
    for san in 0 1; do
        log=$out/records/debian12-$san.log
        if [ -f "$out/records/debian12-$san" ] \
           && grep -qx "tree=$hash" "$out/records/debian12-$san"; then
            how="$how make check SANITIZE=$san of this tree reused"
        else
            say "debian12: make check SANITIZE=$san"
            rm -f "$out/records/debian12-$san"
            (cd "$top" && nice make check SANITIZE=$san) > "$out/debian12-$san.log" 2>&1
            if [ ! -f "$out/records/debian12-$san" ]; then
                # not a git tree: no record, the log is all there is
                mkdir -p "$out/records"
                cp "$out/debian12-$san.log" "$log"
                { echo "tree=none"; echo "rc=1"; } > "$out/records/debian12-$san"
                grep -q '^Result: PASS' "$log" \
                    && sed -i 's/^rc=1/rc=0/' "$out/records/debian12-$san"
            fi
        fi
        rc=$(sed -n 's/^rc=//p' "$out/records/debian12-$san")
        [ "$(verdict "$log" "$rc")" = pass ] || { ok=0; show_failure "$log"; }
        detail="$detail${detail:+; }$( [ $san = 1 ] && echo sanitizers || echo release): $(describe "$log")"
    done
    result debian12 "Debian 12 (bookworm)" \
        "the whole suite, release and ASan/UBSan builds" \
        "$( [ $ok = 1 ] && echo pass || echo "fail: $(for san in 0 1; do
              eval "$(counts "$out/records/debian12-$san.log")"; echo -n "$failed_files "; done)")" \
        "$detail${how:+;$how}"
}

# The whole suite, release build, in a root of release $2 (leg $1).
leg_root() {
    local leg=$1 rel=$2 platform=$3 root start rc log verdict prep
    root=$out/$rel
    log=$out/$leg.log
    start=$SECONDS
    v_nginx= v_haproxy= v_lua= v_openssl=
    if ! get_root "$rel" "$root"; then
        result "$leg" "$platform" "the whole suite, release build" \
            "fail: the root was not made" "see $root.log"
        return
    fi
    prep=$((SECONDS - start))
    copy_tree "$root/matrix/src"
    versions /usr/sbin/nginx /usr/sbin/haproxy in_root "$root"
    say "$leg: root $root_how in $(secs $prep); make check SANITIZE=0 in it"
    {
        in_root "$root" sh /matrix/src/tests/setup.sh \
            && suite_in_root "$root" /matrix/src SANITIZE=0
    } > "$log" 2>&1
    rc=$?
    kill_root "$root"
    verdict=$(verdict "$log" "$rc")
    [ "$verdict" = pass ] || show_failure "$log"
    result "$leg" "$platform" "the whole suite, release build" "$verdict" \
        "$(describe "$log"); root $root_how in $(secs $prep); $(secs $((SECONDS - start)))"
}

# Experimental's HAProxy, in the unstable root (after leg_root unstable):
# the HAProxy files, against the tree built there.
leg_haproxy34() {
    local root=$out/sid start=$SECONDS log=$out/haproxy34.log rc verdict
    local bin=/opt/haproxy-3.4/usr/sbin/haproxy
    v_nginx= v_haproxy= v_lua= v_openssl=
    if [ ! -x "$root/$bin" ] || [ ! -d "$root/matrix/src" ] \
       || ! mountpoint -q "$root/proc"; then
        result haproxy34 "Debian unstable, HAProxy from experimental" \
            "the HAProxy files" "fail: the unstable root is not there" \
            "run with the unstable leg"
        return
    fi
    if ! grep -q HAPROXY_BIN "$root/matrix/src/t/lib/ClusterHAProxy.pm"; then
        result haproxy34 "Debian unstable, HAProxy from experimental" \
            "the HAProxy files" "fail: this tree's tests run Debian's haproxy only" \
            "t/lib/ClusterHAProxy.pm takes no HAPROXY_BIN"
        return
    fi
    versions /usr/sbin/nginx "$bin" in_root "$root"
    say "haproxy34: the HAProxy files with HAPROXY_BIN=$bin"
    suite_in_root "$root" /matrix/src SANITIZE=0 HAPROXY_BIN=$bin \
        T="$(cd "$top" && echo $haproxy_files)" > "$log" 2>&1
    rc=$?
    kill_root "$root"
    verdict=$(verdict "$log" "$rc")
    [ "$verdict" = pass ] || show_failure "$log"
    result haproxy34 "Debian unstable, HAProxy from experimental" \
        "the HAProxy files" "$verdict" \
        "$(describe "$log"); $(secs $((SECONDS - start)))"
}

# nginx mainline from its source, in the unstable root.
leg_nginx131() {
    local root=$out/sid start=$SECONDS log=$out/nginx131.log rc verdict
    local name files src=/matrix/src-nginx131 ngx
    local platform="Debian unstable, nginx mainline from source"
    local tested="the nginx files, release build"
    v_nginx= v_haproxy= v_lua= v_openssl=
    if [ -z "$upstream" ]; then
        result nginx131 "$platform" "$tested" \
            "skipped: no NGINX_UPSTREAM (nginx's source, a .tar.gz) given" ""
        return
    fi
    if [ ! -f "$upstream" ]; then
        result nginx131 "$platform" "$tested" \
            "skipped: NGINX_UPSTREAM=$upstream is not there" ""
        return
    fi
    upstream=$(cd "$(dirname "$upstream")" && pwd)/$(basename "$upstream")
    name=$(basename "$upstream" .tar.gz)
    if ! (cd "$(dirname "$upstream")" \
          && grep " \*\?$name.tar.gz\$" SHA256SUMS | sha256sum -c --quiet -) \
       > "$log" 2>&1; then
        result nginx131 "$platform" "$tested" \
            "fail: $name.tar.gz does not match SHA256SUMS beside it" \
            "$(tail -1 "$log")"
        return
    fi
    if ! mountpoint -q "$root/proc"; then
        result nginx131 "$platform" "$tested" \
            "fail: the unstable root is not there" "run with the unstable leg"
        return
    fi
    copy_tree "$root$src"
    mkdir -p "$root/matrix/$name"
    tar -C "$root/matrix/$name" --strip-components=1 -xzf "$upstream"
    # Debian's configure flags (nginx-dev's conf_flags), as for its nginx,
    # but for the --override-* of Debian's own patch to configure
    cat > "$root/matrix/$name/conf_flags" <<'FLAGS'
. /usr/share/nginx/src/conf_flags
debian_flags=("${NGX_CONF_FLAGS[@]}")
NGX_CONF_FLAGS=()
for f in "${debian_flags[@]}"; do
    case $f in --override-*) ;; *) NGX_CONF_FLAGS+=("$f") ;; esac
done
FLAGS
    ngx=$src/build/release/nginx/objs/nginx
    files=$(cd "$top" && ls t/*.t | grep -v -e '^t/haproxy' -e '^t/demo_haproxy.t' \
                                       -e '^t/deb.t' | tr '\n' ' ')
    say "nginx131: $name built with the module; the nginx files"
    {
        in_root "$root" make -C "$src" module sim SANITIZE=0 \
            NGINX_SRC=/matrix/$name \
            NGINX_CONFIGURE="--with-stream --with-stream_ssl_module" \
            && in_root "$root" make -s -C "$src/build/release/nginx" -f objs/Makefile \
                   -j"$(nproc)" binary \
            && suite_in_root "$root" "$src" SANITIZE=0 NGINX_BIN=$ngx \
                   NGINX_SRC=/matrix/$name T="$files"
    } >> "$log" 2>&1
    rc=$?
    kill_root "$root"
    versions "$ngx" /usr/sbin/haproxy in_root "$root"
    verdict=$(verdict "$log" "$rc")
    [ "$verdict" = pass ] || show_failure "$log"
    result nginx131 "$platform" "$tested" "$verdict" \
        "$(describe "$log"); $(secs $((SECONDS - start)))"
}

# --- the README's table ----------------------------------------------------------

begin_mark='<!-- platforms: written by make matrix; make matrix-readme updates it -->'
end_mark='<!-- /platforms -->'

write_table() {
    {
        echo "$begin_mark"
        echo "| platform | nginx | HAProxy | Lua | tested | result |"
        echo "|---|---|---|---|---|---|"
        awk -F'\t' '{ printf "| %s | %s | %s | %s | %s | %s |\n", $2, $3, $4, $5, $6, $7 }' \
            "$out/rows"
        echo "$end_mark"
    } > "$out/platforms.md"
}

readme_table() {
    awk -v b="$begin_mark" -v e="$end_mark" \
        '$0 == b { on = 1 } on { print } $0 == e { on = 0 }' "$top/README.md"
}

readme() {
    [ -f "$out/platforms.md" ] || { say "no build/matrix/platforms.md: run make matrix" >&2; exit 1; }
    grep -qxF "$begin_mark" "$top/README.md" \
        || { say "README.md has no line: $begin_mark" >&2; exit 1; }
    perl -i -e '
        open my $fh, "<", shift or die; local $/; my $new = <$fh>;
        my ($b, $e) = (shift, shift); local $/;
        my $text = <>;
        $text =~ s/^\Q$b\E\n.*?^\Q$e\E\n/$new/ms or die "no table\n";
        print $text;' "$out/platforms.md" "$begin_mark" "$end_mark" "$top/README.md"
    say "README.md's table updated from build/matrix/platforms.md"
}

# --- main ------------------------------------------------------------------------

case ${1:-} in
    record) shift; record "$@"; exit 0 ;;
    unmount) unmount_all; exit ;;
    readme) readme; exit ;;
    "") ;;
    *) echo "usage: $0 [record S RC LOG SECONDS | unmount | readme]" >&2; exit 2 ;;
esac

if [ "$(id -u)" != 0 ]; then
    say "the roots need root (debootstrap, chroot, mount)" >&2
    exit 1
fi
for tool in debootstrap zstd findmnt perl; do
    command -v $tool >/dev/null \
        || { say "$tool is missing (apt-get install debootstrap zstd)" >&2; exit 1; }
done

trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$out"
rm -f "$out/rows" "$out/platforms.md"
total_start=$SECONDS

for leg in $legs; do
    leg_start=$SECONDS
    case $leg in
        debian12) leg_debian12 ;;
        debian13) leg_root debian13 trixie "Debian 13 (trixie)" ;;
        unstable) leg_root unstable sid "Debian unstable (sid)" ;;
        haproxy34) leg_haproxy34 ;;
        nginx131) leg_nginx131 ;;
        *) say "no leg $leg (legs: $all_legs)" >&2; exit 2 ;;
    esac
    say "$leg took $(secs $((SECONDS - leg_start)))"
    [ "$leg" != debian13 ] || release_root "$out/trixie"
done
cleanup

write_table
status=0
if [ "$legs" = "$all_legs" ] && [ -n "$upstream" ]; then
    if ! diff -u <(readme_table) "$out/platforms.md" > "$out/readme.diff"; then
        say "README.md's \"Supported platforms\" table is not what ran:"
        sed 's/^/    /' "$out/readme.diff"
        say "make matrix-readme puts this run's table in README.md"
        status=1
    else
        say "README.md's table is what ran"
    fi
else
    say "README.md's table not checked: not every leg ran"
fi

say "all legs: $(secs $((SECONDS - total_start)))"
echo "$legs_passed passed, $legs_failed failed"
[ "$legs_failed" = 0 ] || status=1
exit $status
