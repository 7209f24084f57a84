"""Profiling overhead on this CPython (`make bench-pythons` runs it on every chroot version,
`make bench` on the host's): CPU profiling and heap sampling by the native engine, and CPU
profiling by the fallback sampler, against the same allocation-heavy workload without
profiling, measured in the same run.

Rounds interleave the configurations (order reversed every other round); each round gives
a paired ratio (profiled / unprofiled *process* CPU time, which includes the profiler's own
threads), and the figure is the median of those ratios with their interquartile range and
extremes. Targets (issue 10): CPU profiling < 1 %, heap sampling < 3 %. Prints figures;
never fails on timing. The machine may be loaded: the paired ratios absorb slow drift, the
spread shows what is left.

    python benchmarks/bench_versions.py [--rounds 11] [--size 30000]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pyprofnb.collect import cpu, fallback, heap  # noqa: E402


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


def run(mode: str, n: int) -> float:
    """Process CPU seconds of the workload under `mode`; start/stop and building the profile
    are outside the measurement."""
    session = None
    if mode == "cpu":
        cpu.start()
    elif mode == "heap":
        heap.start()
    elif mode == "fallback":
        session = fallback.FallbackSession(cpu.DEFAULT_HZ, "measured beside the engine")
        session.start()
    t0 = time.process_time()
    workload(n)
    elapsed = time.process_time() - t0
    if mode == "cpu":
        cpu.stop()
    elif mode == "heap":
        heap.stop()
        heap.profile()
        heap.reset()
    elif session is not None:
        session.stop()
    return elapsed


def quartiles(xs: list[float]) -> tuple[float, float]:
    if len(xs) < 4:
        return min(xs), max(xs)
    q = statistics.quantiles(xs, n=4)
    return q[0], q[2]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=11)
    ap.add_argument("--size", type=int, default=30000)
    args = ap.parse_args()
    modes = ["none"]
    if cpu.mode() == "native":
        modes += ["cpu", "heap"]
    if not fallback.unavailable_reason():
        modes.append("fallback")
    run("none", args.size // 4)  # warm up
    ratios: dict[str, list[float]] = {m: [] for m in modes[1:]}
    ref: list[float] = []
    for r in range(args.rounds):
        order = modes if r % 2 == 0 else modes[::-1]
        this = {m: run(m, args.size) for m in order}
        ref.append(this["none"])
        for m in modes[1:]:
            ratios[m].append(this[m] / this["none"])
    print(f"CPython {sys.version.split()[0]}: engine {cpu.mode()}; workload {args.size} records, reference "
          f"{statistics.median(ref) * 1e3:.0f} ms process CPU (median of {args.rounds} rounds)")
    targets = {"cpu": 1.0, "heap": 3.0, "fallback": None}
    for m in modes[1:]:
        med = 100 * (statistics.median(ratios[m]) - 1)
        lo, hi = quartiles(ratios[m])
        target = targets[m]
        print(f"  {m:8s} overhead {med:+6.2f}%  (IQR {100 * (lo - 1):+.2f}..{100 * (hi - 1):+.2f}%, "
              f"range {100 * (min(ratios[m]) - 1):+.2f}..{100 * (max(ratios[m]) - 1):+.2f}%)"
              + (f"  target < {target:.0f}%" if target else "  (approximate sampler, 100 Hz visits)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
