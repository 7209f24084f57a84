# Runs inside the sid chroot (see matrix.sh):
#   in_chroot.sh VERSION test TEST_FILE... [PYTEST ARGS]
#   in_chroot.sh VERSION bench [BENCHMARK ARGS]
set -eu
v=$1
mode=$2
shift 2
src=/work/pyprofnb
venv=/opt/pyprofnb-venv/$v
py=$venv/bin/python
cd "$src"
if [ ! -x "$py" ]; then
    "python$v" -m venv "$venv"
fi
# The package's own dependencies and the test runner, straight from pyproject.toml; installed
# again only when that list changes.
reqs=$("$py" - <<'PY'
import re, tomllib
p = tomllib.load(open("pyproject.toml", "rb"))["project"]
runner = [r for r in p["optional-dependencies"]["test"] if re.match(r"(pytest|hypothesis)\b", r)]
print("\n".join(sorted(p["dependencies"] + runner + ["setuptools>=77", "wheel"])))
PY
)
if [ "$(cat "$venv/.reqs" 2>/dev/null)" != "$reqs" ]; then
    echo "$reqs" > "$venv/reqs.txt"
    "$py" -m pip install -q --disable-pip-version-check -r "$venv/reqs.txt"
    echo "$reqs" > "$venv/.reqs"
fi
"$py" setup.py -q build_ext --inplace >build.log 2>&1 || { cat build.log; exit 1; }
grep -E "warning|error" build.log || true
"$py" -c "
import sys
from pyprofnb.collect import cpu, UNAVAILABLE_REASON
print(sys.version.split()[0], 'engine:', cpu.mode(), UNAVAILABLE_REASON)
sys.exit(0 if cpu.mode() == 'native' else 1)
"
export PATH="$venv/bin:$PATH" GOTOOLCHAIN=local PYPROFNB_GOCACHE=/var/cache/pyprofnb-gocache
if [ "$mode" = bench ]; then
    "$py" benchmarks/bench_versions.py "$@"
    exec "$py" benchmarks/bench_server.py
fi
exec "$py" -m pytest -p no:cacheprovider -q "$@"
