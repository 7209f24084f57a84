"""Cost of the web UI's pages, as ratios against the text top report of the same profile
measured in the same run (the reference every view shares: prepare + trimmed graph).

    python benchmarks/bench_web.py [PROFILE]

Without PROFILE a synthetic profile of 20k samples over 300 functions is generated.
Prints, for each page: median seconds of 5 runs, ratio to the reference, and the spread
(max/min of the runs). Never fails on a timing.
"""
from __future__ import annotations

import statistics
import sys
import time

import numpy as np

import pyprofnb
from pyprofnb.report import render_text
from pyprofnb.web.embed import embedded_page
from pyprofnb.web.state import VIEWS, ViewState
from pyprofnb.web.views import render_view


def synthetic(samples: int = 20_000, functions: int = 300, seed: int = 1) -> pyprofnb.Profile:
    rng = np.random.default_rng(seed)
    b = pyprofnb.ProfileBuilder([("samples", "count"), ("cpu", "nanoseconds")], period_type=("cpu", "nanoseconds"),
                                period=10_000_000)
    names = [(f"pkg{i % 17}.func{i}", f"/app/pkg{i % 17}.py", 10 + i) for i in range(functions)]
    for _ in range(samples):
        depth = int(rng.integers(3, 25))
        stack = [names[int(j)] for j in rng.zipf(1.3, depth) % functions]
        b.add(stack, [1, 10_000_000], labels={"thread": f"worker-{int(rng.integers(0, 4))}"})
    return b.build(duration_nanos=30 * 10**9)


def timed(fn, runs: int = 5) -> list[float]:
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def main() -> None:
    prof = pyprofnb.load(sys.argv[1]) if len(sys.argv) > 1 else synthetic()
    print(f"profile: {prof!r}  (machine shared with other jobs: figures are noisy; ratios are paired per run)")
    cases = {"reference: render_text top": lambda: render_text(prof, "top")}
    for view in VIEWS:
        cases[f"server page fragment: {view}"] = lambda v=view: render_view(prof, ViewState(view=v, si=prof.sample_types[-1].type))
    cases["notebook page (all views, all sample types)"] = lambda: embedded_page(prof)
    results = {}
    for name, fn in cases.items():
        results[name] = timed(fn)
    ref = statistics.median(results["reference: render_text top"])
    for name, runs in results.items():
        med = statistics.median(runs)
        print(f"{name:<48} {med:8.3f} s  x{med / ref:6.1f}  spread {max(runs) / min(runs):4.2f}")
    size = len(embedded_page(prof))
    print(f"notebook page size: {size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
