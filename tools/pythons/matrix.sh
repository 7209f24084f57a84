#!/usr/bin/env bash
# `make test-pythons`: the engine tests and the demo-server endpoint tests on every CPython in
# the sid chroot (tools/pythons/chroot.sh), against that chroot's current Go.
#
#   tools/pythons/matrix.sh                 every version the chroot has
#   PYTHONS="3.14" tools/pythons/matrix.sh  some of them
#   tools/pythons/matrix.sh -k heap         extra arguments go to pytest
#   PYTHONS_MODE=bench tools/pythons/matrix.sh   the engine's overhead benchmarks instead
#
# The working tree (tracked and untracked, not ignored files) is copied into the chroot;
# each version gets a venv there, kept between runs, with the package's dependencies and
# the test runner from PyPI. The engine is built in place for each version (the extension's
# file name carries the version), and must load: a version whose engine fails to build or
# load fails the run. Exit status: 0 when every version passed.
set -euo pipefail
cd "$(dirname "$0")/../.."

ROOT=${PYPROFNB_SID_ROOT:-/var/cache/pyprofnb-sid}
export PYPROFNB_SID_ROOT=$ROOT
CHROOT=tools/pythons/chroot.sh

# Test files by name, wherever tests/ puts them.
PATTERNS=(
    'test_engine_*.py' 'test_walk*.py' 'test_stacks_*.py' 'test_collect_versions.py'
    'test_demo_server.py' 'test_http_endpoints.py'
)
# On the first version only: what depends on Go's version rather than Python's, and the
# fallback sampler (pure Python; the host's `make test` runs it too).
ONCE_PATTERNS=('test_http_go_pprof.py' 'test_fallback.py')

t0=$SECONDS
"$CHROOT" ensure
echo "test-pythons: chroot ready in $((SECONDS - t0)) s"

dest="$ROOT/work/pyprofnb"
rm -rf "$dest"
mkdir -p "$dest"
git ls-files -z --cached --others --exclude-standard \
    | while IFS= read -r -d '' f; do [ -f "$f" ] && printf '%s\0' "$f"; done \
    | tar --null -T - -cf - | tar -xf - -C "$dest"

tests=()
for p in "${PATTERNS[@]}"; do
    while IFS= read -r f; do tests+=("$f"); done < <(find tests -name "$p" -type f | sort)
done
once=()
for p in "${ONCE_PATTERNS[@]}"; do
    while IFS= read -r f; do once+=("$f"); done < <(find tests -name "$p" -type f | sort)
done
[ ${#tests[@]} -gt 0 ] || { echo "test-pythons: no test files match" >&2; exit 2; }

versions=${PYTHONS:-$("$CHROOT" versions | tr '\n' ' ')}
[ -n "$versions" ] || { echo "test-pythons: the chroot has no python3.X" >&2; exit 2; }
failed=()
for v in $versions; do
    echo "=== CPython $v (sid chroot) ==="
    t1=$SECONDS
    if [ "${PYTHONS_MODE:-test}" = bench ]; then
        set -- "$@"
        run=(sh /work/pyprofnb/tools/pythons/in_chroot.sh "$v" bench "$@")
    else
        run=(sh /work/pyprofnb/tools/pythons/in_chroot.sh "$v" test "${tests[@]}" "${once[@]}" "$@")
        once=()
    fi
    if "$CHROOT" run "${run[@]}"; then
        echo "=== CPython $v: passed in $((SECONDS - t1)) s ==="
    else
        echo "=== CPython $v: FAILED (after $((SECONDS - t1)) s) ==="
        failed+=("$v")
    fi
done
echo "test-pythons: $versions in $((SECONDS - t0)) s; failed: ${failed[*]:-none}"
[ ${#failed[@]} -eq 0 ]
