"""Overhead of the asyncio task-step hook (`pyprofnb.collect.aio.install`): the same asyncio
workload with the hook off (reference) and on, interleaved, several rounds, in one process.

Two workloads bracket real services: ``switch`` is 200 tasks that do nothing but
``await asyncio.sleep(0)`` (all hook, no work: the worst case), ``service`` is tasks that each
step build and serialize a small JSON record (a cheap request handler). The figure is the
median of per-round ratios of process CPU time (on/off), with the spread; it prints figures
and never fails on timing.

    .venv/bin/python benchmarks/bench_asyncio.py [--rounds 7] [--steps 200]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time

from pyprofnb.collect import aio


async def _switcher(steps: int) -> None:
    for _ in range(steps):
        await asyncio.sleep(0)


async def _handler(steps: int) -> None:
    for i in range(steps):
        record = {"id": i, "name": f"user-{i}", "tags": ["gopher", "pythonista"], "age": 45}
        json.dumps(record)
        await asyncio.sleep(0)


async def _run(kind: str, tasks: int, steps: int) -> None:
    body = _switcher if kind == "switch" else _handler
    await asyncio.gather(*(asyncio.create_task(body(steps), name=f"t{i}") for i in range(tasks)))


def measure(kind: str, hooked: bool, tasks: int, steps: int) -> float:
    (aio.install if hooked else aio.uninstall)()
    t0 = time.process_time()
    asyncio.run(_run(kind, tasks, steps))
    return time.process_time() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    print(f"{args.tasks} tasks x {args.steps} steps, {args.rounds} interleaved rounds; "
          "ratio = CPU with the hook / CPU without")
    for kind in ("switch", "service"):
        measure(kind, False, args.tasks, args.steps // 4)  # warm up
        ratios, per_step = [], []
        for _ in range(args.rounds):
            off = measure(kind, False, args.tasks, args.steps)
            on = measure(kind, True, args.tasks, args.steps)
            ratios.append(on / off)
            per_step.append((on - off) / (args.tasks * args.steps) * 1e9)
        aio.uninstall()
        print(f"{kind:8s} ratio median {statistics.median(ratios):.3f} (min {min(ratios):.3f}, max {max(ratios):.3f}); "
              f"cost per task step {statistics.median(per_step):.0f} ns")


if __name__ == "__main__":
    main()
