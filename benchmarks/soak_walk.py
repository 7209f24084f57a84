"""The frame walk under fire for minutes (`make soak-walk`): tests/integration/walk_stress.py in
back-to-back child processes (exec(compile(...)) loops, class creation, gc storms, thread
churn; CPU profiling at 10 kHz, heap sampling at rate 512), until the time is up. Any child
that dies (a fault in the walk kills it with SIGSEGV) is reported with its stderr and makes
the exit status 1; the counters of every run are summed.

    .venv/bin/python benchmarks/soak_walk.py --minutes 5 [--run-seconds 60]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

STRESS = Path(__file__).resolve().parent.parent / "tests" / "integration" / "walk_stress.py"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--run-seconds", type=float, default=60.0)
    args = ap.parse_args()
    deadline = time.monotonic() + args.minutes * 60
    totals: dict = {}
    runs = deaths = 0
    while time.monotonic() < deadline:
        seconds = max(5.0, min(args.run_seconds, deadline - time.monotonic()))
        proc = subprocess.run([sys.executable, "-X", "faulthandler", str(STRESS), "--seconds", str(seconds)],
                              capture_output=True, text=True, timeout=seconds + 300)
        runs += 1
        if proc.returncode != 0:
            deaths += 1
            print(f"run {runs}: exit {proc.returncode}\n{proc.stderr[-3000:]}", flush=True)
            continue
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        stats = out.pop("cpu_stats")
        for k, v in {**out, **stats}.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                totals[k] = totals.get(k, 0) + v
        print(f"run {runs}: {seconds:.0f} s, {out['cpu_samples']} CPU samples, {out['heap_samples']} heap samples, "
              f"walks cut at an invalid frame {stats.get('walks_cut_invalid_frame')}, "
              f"at a fault {stats.get('walks_cut_fault')}", flush=True)
    print(json.dumps({"runs": runs, "deaths": deaths, **{k: totals[k] for k in sorted(totals)}}))
    return 1 if deaths else 0


if __name__ == "__main__":
    sys.exit(main())
