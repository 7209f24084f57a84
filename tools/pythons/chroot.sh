#!/usr/bin/env bash
# A Debian sid chroot with every current CPython (3.13, 3.14, 3.15 and their -dev/-venv),
# gcc, the current Go and hey: the test matrix of `make test-pythons`.
#
#   tools/pythons/chroot.sh ensure          build it if missing (reused when present)
#   tools/pythons/chroot.sh versions        print the python3.X versions installed in it
#   tools/pythons/chroot.sh run CMD [ARG..] run CMD inside it (clean environment, /proc mounted)
#
# The chroot lives outside the clone (PYPROFNB_SID_ROOT, default /var/cache/pyprofnb-sid) so a
# later run on the same machine reuses it. The package mirror is read from the host's apt
# sources (or PYPROFNB_SID_MIRROR); no host name is written here. Needs root and debootstrap.
set -euo pipefail

ROOT=${PYPROFNB_SID_ROOT:-/var/cache/pyprofnb-sid}
LOCK="$ROOT.lock"
# What the matrix needs; python3.X-dev/-venv are added for every X that sid carries.
BASE_PACKAGES="gcc libc6-dev golang-go hey ca-certificates"
PY_CANDIDATES="3.11 3.12 3.13 3.14 3.15 3.16"
APT_OPTS=(-o Acquire::Check-Valid-Until=false -o DPkg::Lock::Timeout=600 -o APT::Install-Recommends=false)
CLEAN_ENV=(env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
           LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive TERM=dumb)

die() { echo "chroot.sh: $*" >&2; exit 2; }

mirror() {
    if [ -n "${PYPROFNB_SID_MIRROR:-}" ]; then echo "$PYPROFNB_SID_MIRROR"; return; fi
    # deb822 sources: the first stanza of type deb whose suites are not a security suite.
    local f uri
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -r "$f" ] || continue
        uri=$(awk 'BEGIN{RS=""; FS="\n"}
            { types=""; uris=""; suites="";
              for (i = 1; i <= NF; i++) {
                if ($i ~ /^Types:/)  types = $i
                if ($i ~ /^URIs:/)   { uris = $i; sub(/^URIs:[ \t]*/, "", uris); split(uris, u, /[ \t]+/); uris = u[1] }
                if ($i ~ /^Suites:/) suites = $i
              }
              if (types ~ /(^|[ \t])deb([ \t]|$)/ && suites !~ /security/ && uris != "") { print uris; exit } }' "$f")
        if [ -n "$uri" ]; then echo "$uri"; return; fi
    done
    # one-line sources
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -r "$f" ] || continue
        uri=$(awk '$1 == "deb" && $0 !~ /security/ { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' "$f")
        if [ -n "$uri" ]; then echo "$uri"; return; fi
    done
    die "no Debian mirror found in the host's apt sources; set PYPROFNB_SID_MIRROR"
}

mounted=()
cleanup() {
    local m
    for m in "${mounted[@]}"; do umount -l "$m" 2>/dev/null || true; done
    mounted=()
}
trap cleanup EXIT INT TERM

mount_inside() {  # mount_inside DIR  -- /proc and a /dev/shm for multiprocessing
    local dir=$1
    mkdir -p "$dir/proc" "$dir/dev/shm"
    mountpoint -q "$dir/proc" || { mount -t proc proc "$dir/proc"; mounted+=("$dir/proc"); }
    mountpoint -q "$dir/dev/shm" || { mount -t tmpfs -o mode=1777,size=512m shm "$dir/dev/shm"; mounted+=("$dir/dev/shm"); }
}

host_files() {  # DNS and the host's CA bundle (sid's ca-certificates rewrites its own)
    local dir=$1
    cp -L /etc/resolv.conf "$dir/etc/resolv.conf" 2>/dev/null || true
    mkdir -p "$dir/etc/ssl/certs"
    cp -L /etc/ssl/certs/ca-certificates.crt "$dir/etc/ssl/certs/ca-certificates.crt"
}

go_tools() {  # go_tools DIR
    # Go 1.25+ ship no prebuilt pprof: `go tool pprof` would compile it into the GOCACHE of
    # each caller (the tests use a fresh one per session, a minute of CPU each). Build it once
    # into GOROOT's tool directory, where `go tool` looks first, as Go 1.19 shipped it.
    # Its standard library is not precompiled either: warm the build cache the tests use
    # (PYPROFNB_GOCACHE, see tests/gotools.py), or the first Go build in a test takes minutes.
    local dir=$1
    in_root "$dir" sh -c 'set -e; t="$(go env GOTOOLDIR)/pprof"; export GOTOOLCHAIN=local;
        [ -x "$t" ] || { GOCACHE=/tmp/pyprofnb-gocache go build -o "$t" cmd/pprof; rm -rf /tmp/pyprofnb-gocache; }
        GOCACHE=/var/cache/pyprofnb-gocache go build std'
}

in_root() {  # in_root DIR CMD...
    local dir=$1; shift
    chroot "$dir" "${CLEAN_ENV[@]}" "$@"
}

build() {
    command -v debootstrap >/dev/null || die "debootstrap is missing (apt-get install debootstrap)"
    [ "$(id -u)" = 0 ] || die "building the chroot needs root"
    local tmp="$ROOT.building" m t0=$SECONDS
    m=$(mirror)
    rm -rf "$tmp"
    echo "chroot.sh: debootstrap sid into $tmp"
    debootstrap --variant=minbase sid "$tmp" "$m" > "$ROOT.debootstrap.log" 2>&1 \
        || { tail -20 "$ROOT.debootstrap.log" >&2; die "debootstrap failed (log: $ROOT.debootstrap.log)"; }
    echo "deb $m sid main" > "$tmp/etc/apt/sources.list"
    host_files "$tmp"
    mount_inside "$tmp"
    in_root "$tmp" apt-get "${APT_OPTS[@]}" update -qq
    local pkgs="$BASE_PACKAGES" v
    for v in $PY_CANDIDATES; do
        if in_root "$tmp" apt-cache show "python$v-dev" >/dev/null 2>&1 \
           && in_root "$tmp" apt-cache show "python$v-venv" >/dev/null 2>&1; then
            pkgs="$pkgs python$v-dev python$v-venv"
        fi
    done
    echo "chroot.sh: installing $pkgs"
    in_root "$tmp" apt-get "${APT_OPTS[@]}" install -y -qq $pkgs > "$ROOT.apt.log" 2>&1 \
        || { tail -20 "$ROOT.apt.log" >&2; die "apt-get install in the chroot failed (log: $ROOT.apt.log)"; }
    in_root "$tmp" apt-get clean
    host_files "$tmp"   # after ca-certificates ran
    go_tools "$tmp"
    cleanup
    touch "$tmp/.pyprofnb-go-tools-2"
    echo "$pkgs" > "$tmp/.pyprofnb-sid-ready"
    mv "$tmp" "$ROOT"
    echo "chroot.sh: built $ROOT in $((SECONDS - t0)) s"
}

ensure() {
    exec 9>"$LOCK"
    flock 9
    if [ -f "$ROOT/.pyprofnb-sid-ready" ]; then
        echo "chroot.sh: reusing $ROOT (built $(date -u -r "$ROOT/.pyprofnb-sid-ready" +%FT%TZ))"
    else
        build
    fi
    host_files "$ROOT"
    if [ ! -f "$ROOT/.pyprofnb-go-tools-2" ]; then
        mount_inside "$ROOT"
        go_tools "$ROOT"
        cleanup
        touch "$ROOT/.pyprofnb-go-tools-2"
    fi
    flock -u 9
}

versions() {
    local v
    for v in $PY_CANDIDATES; do
        [ -x "$ROOT/usr/bin/python$v" ] && [ -f "$ROOT/usr/include/python$v/Python.h" ] && echo "$v"
    done
    return 0
}

case "${1:-}" in
    ensure) ensure ;;
    versions) versions ;;
    run)
        shift
        [ -f "$ROOT/.pyprofnb-sid-ready" ] || die "no chroot at $ROOT (run: $0 ensure)"
        mount_inside "$ROOT"
        rc=0
        chroot "$ROOT" "${CLEAN_ENV[@]}" "$@" || rc=$?
        cleanup
        exit $rc ;;
    *) die "usage: $0 ensure|versions|run CMD..." ;;
esac
