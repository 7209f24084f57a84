"""What importing pyprofnb's serving side costs a service that never asks for a profile
(issue 9): an allocation-heavy loop in fresh interpreters that import nothing, `pyprofnb.collect`,
or `pyprofnb.http` (what enabling /debug/pprof imports), interleaved, several rounds; prints
the median of the paired per-round ratios with their range, and the GC-tracked objects each
import adds. Every import adds objects that each full collection walks, which is what slows
an allocation-heavy program. Never fails on timing.

    .venv/bin/python benchmarks/bench_import.py [--rounds 9]
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

CHILD = """
import gc, json, sys, time
n0 = len(gc.get_objects())
if sys.argv[1] != "none":
    __import__(sys.argv[1])
added = len(gc.get_objects()) - n0
def work():
    t = time.thread_time()
    for _ in range(15):
        d = [{"a": i, "b": [i, i + 1], "c": str(i)} for i in range(20000)]
        del d
    return time.thread_time() - t
work()
print(json.dumps({"cpu": min(work() for _ in range(5)), "objects": added,
                  "numpy": "numpy" in sys.modules, "pandas": "pandas" in sys.modules}))
"""

VARIANTS = ["none", "pyprofnb.collect", "pyprofnb.http"]


def run(variant: str) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, variant], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=9)
    args = ap.parse_args(argv)
    results = {v: [] for v in VARIANTS}
    for r in range(args.rounds):
        order = VARIANTS if r % 2 == 0 else VARIANTS[::-1]
        for v in order:
            results[v].append(run(v))
    print("allocation-heavy loop, CPU of the best of 5 repetitions per process; "
          f"{args.rounds} interleaved rounds")
    for v in VARIANTS[1:]:
        ratios = [results[v][i]["cpu"] / results["none"][i]["cpu"] for i in range(args.rounds)]
        last = results[v][-1]
        print(f"  import {v:17s} x{statistics.median(ratios):.3f} (range {min(ratios):.3f}..{max(ratios):.3f})  "
              f"+{last['objects']} GC-tracked objects, numpy imported: {last['numpy']}, pandas: {last['pandas']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
