"""Heap sampling's cost in instructions, which a loaded machine does not blur: the
allocation-heavy workload of bench_engine.py under valgrind's cachegrind, with and without
heap sampling, at two sizes, so start-up cancels out (the difference of the two sizes is the
workload alone). Prints the ratio; never fails. Needs valgrind (Debian package valgrind);
prints nothing measured without it.

    .venv/bin/python benchmarks/bench_instructions.py [--sizes 4000 12000] [--rate 131072]
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
CHILD = """
import sys
sys.path.insert(0, {here!r})
from bench_engine import workload
from pyprofnb.collect import heap
workload(2000)
if sys.argv[1] == "heap":
    heap.start(int(sys.argv[3]))
workload(int(sys.argv[2]))
"""


def instructions(mode: str, size: int, rate: int) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(
            ["valgrind", "--tool=cachegrind", "--cache-sim=no", f"--cachegrind-out-file={tmp}/cg",
             sys.executable, "-c", CHILD.format(here=HERE), mode, str(size), str(rate)],
            capture_output=True, text=True, check=True)
    return int(re.search(r"I\s+refs:\s+([\d,]+)", out.stderr).group(1).replace(",", ""))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs=2, default=[4000, 12000])
    ap.add_argument("--rate", type=int, default=131072)
    args = ap.parse_args(argv)
    if shutil.which("valgrind") is None:
        print("valgrind is not installed; nothing measured")
        return 0
    small, large = args.sizes
    work = {}
    for mode in ("none", "heap"):
        work[mode] = instructions(mode, large, args.rate) - instructions(mode, small, args.rate)
    ratio = work["heap"] / work["none"]
    print(f"workload of {large - small} records: {work['none'] / 1e6:.1f}M instructions unprofiled, "
          f"{work['heap'] / 1e6:.1f}M with heap sampling at rate {args.rate}: {100 * (ratio - 1):+.2f}% "
          f"(target < 3%; cachegrind counts are deterministic)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
