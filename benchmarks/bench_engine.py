"""Overhead of the native engine: CPU profiling, heap sampling, and both, against the same
workload without profiling, measured in the same run.

The workload is allocation-heavy pure Python (small dicts, lists, strings, tuples, json).
Each configuration runs interleaved with the others, several rounds, and the figure is the
median of per-round ratios of *process CPU time* (which includes the profiler's own drain
thread), so a busy machine changes the noise more than the answer. Targets (issue 9): CPU
profiling < 1%, heap sampling < 3%. Prints figures with the spread of the paired ratios;
never fails on timing.

    .venv/bin/python benchmarks/bench_engine.py [--rounds 7] [--size 30000] [--rate 131072]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

from pyprofnb.collect import cpu, heap


def workload(n: int) -> int:
    out = 0
    keep = []
    for i in range(n):
        rec = {"id": i, "name": f"user-{i}", "tags": [str(i % 7), "x" * (i % 50)], "score": i * 0.5}
        s = json.dumps(rec)
        parts = tuple(s.split(","))
        out += len(parts) + len(rec["name"].upper())
        if i % 10 == 0:
            keep.append(parts)
        if len(keep) > 2000:
            keep = keep[1000:]
    return out


def run(mode: str, n: int, rate: int) -> float:
    """Process CPU seconds of the workload alone (the profiler's drain thread included);
    start and stop, and building the profile, are outside the measurement."""
    if mode in ("cpu", "both"):
        cpu.start()
    if mode in ("heap", "both"):
        heap.start(rate)
    t0 = time.process_time()
    workload(n)
    elapsed = time.process_time() - t0
    if mode in ("cpu", "both"):
        cpu.stop()
    if mode in ("heap", "both"):
        heap.stop()
        heap.profile()
        heap.reset()
    return elapsed


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--size", type=int, default=40000)
    ap.add_argument("--rate", type=int, default=heap.DEFAULT_RATE)
    args = ap.parse_args(argv)
    if not cpu.available():
        print(f"native engine unavailable: {cpu.UNAVAILABLE_REASON}")
        return 0
    modes = ["none", "cpu", "heap", "both"]
    run("none", args.size // 4, args.rate)  # warm up
    times: dict[str, list[float]] = {m: [] for m in modes}
    ratios: dict[str, list[float]] = {m: [] for m in modes[1:]}
    for r in range(args.rounds):
        order = modes if r % 2 == 0 else modes[::-1]  # alternate to even out drift
        this = {m: run(m, args.size, args.rate) for m in order}
        for m in modes:
            times[m].append(this[m])
        for m in modes[1:]:
            ratios[m].append(this[m] / this["none"])
    best = {m: min(v) for m, v in times.items()}
    print(f"workload: {args.size} records; reference {best['none'] * 1e3:.0f} ms CPU (best of {args.rounds}), "
          f"median {statistics.median(times['none']) * 1e3:.0f} ms; heap rate {args.rate}")
    print("overhead = profiled / unprofiled process CPU time, same workload, same run")
    targets = {"cpu": 0.01, "heap": 0.03, "both": 0.04}
    for m in modes[1:]:
        med = statistics.median(ratios[m])
        print(f"  {m:5s} best-vs-best {100 * (best[m] / best['none'] - 1):+6.2f}%   median of paired ratios "
              f"{100 * (med - 1):+6.2f}% (range {min(ratios[m]):.2f}..{max(ratios[m]):.2f})   target < {100 * targets[m]:.0f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
