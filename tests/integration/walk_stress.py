"""The frame walk under fire: a workload that makes the interpreter rebuild its frame chain
as often as possible while the engine samples it at 10 kHz and heap sampling runs at 512 B.

Threads loop over exec(compile(...)) of fresh code, class creation, gc storms and
generators, while a churn thread starts and ends short threads. Every interpreter entry
(exec, class bodies, __init__ calls from C, generators consumed by builtins, finalizers run
by the gc) re-publishes the thread's current frame, which is where a walk from a signal
handler can meet a half-written frame chain (CPython 3.11 publishes tstate->cframe before
setting cframe.current_frame).

    python tests/integration/walk_stress.py --seconds 20     # prints one JSON line of counters
Exit status 0 means the process survived and its profiles validated; a fault in the walk
kills the process (SIGSEGV), which is what the callers look for.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from pyprofnb.collect import cpu, heap  # noqa: E402


def exec_loop(i: int) -> int:
    ns: dict = {}
    exec(compile(f"def f(n):\n    return sum(k * {i} for k in range(n))\nx = f({50 + i % 50})", f"<stress{i}>", "exec"), ns)
    return ns["x"]


def make_classes(i: int) -> int:
    class Base:
        def __init__(self, v):
            self.v = v

        def __del__(self):
            self.v = None

    cls = type(f"C{i}", (Base,), {"__init__": lambda self, v: Base.__init__(self, v + 1)})
    objs = [cls(k) for k in range(20)]
    objs.sort(key=lambda o: -o.v)
    return len(objs)


def gc_storm() -> None:
    junk = []
    for _ in range(200):
        a, b = [], {}
        a.append(b)
        b["a"] = a
        junk.append(a)
    del junk
    gc.collect(0)


def gen_chain(n: int) -> int:
    def g():
        for k in range(n):
            yield k
    return sum(map(abs, g())) + max(g(), default=0)


def worker(stop: threading.Event, counter: list) -> None:
    i = 0
    while not stop.is_set():
        exec_loop(i)
        make_classes(i)
        gen_chain(100)
        if i % 10 == 0:
            gc_storm()
        i += 1
    counter.append(i)


def churn(stop: threading.Event, counter: list) -> None:
    n = 0
    while not stop.is_set():
        ts = [threading.Thread(target=lambda: [exec_loop(k) for k in range(5)]) for _ in range(4)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        n += 4
    counter.append(n)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--hz", type=int, default=10_000)
    ap.add_argument("--rate", type=int, default=512)
    ap.add_argument("--workers", type=int, default=3)
    ap.add_argument("--cycle", type=float, default=2.0, help="seconds between profile restarts")
    args = ap.parse_args()

    stop = threading.Event()
    iterations: list = []
    threads_made: list = []
    ts = [threading.Thread(target=worker, args=(stop, iterations)) for _ in range(args.workers)]
    ts.append(threading.Thread(target=churn, args=(stop, threads_made)))
    for t in ts:
        t.start()
    deadline = time.monotonic() + args.seconds
    samples = heap_samples = cycles = 0
    try:
        while time.monotonic() < deadline:
            heap.start(rate=args.rate)
            cpu.start(hz=args.hz)
            time.sleep(min(args.cycle, max(0.05, deadline - time.monotonic())))
            prof = cpu.stop()
            heap.stop()
            hprof = heap.profile()
            prof.validate()
            hprof.validate()
            samples += int(prof.values[:, 0].sum()) if prof.n_samples else 0
            heap_samples += int(heap.stats().get("samples", 0))
            heap.reset()
            cycles += 1
    finally:
        stop.set()
        for t in ts:
            t.join()
    print(json.dumps({
        "seconds": args.seconds, "cycles": cycles, "cpu_samples": samples, "heap_samples": heap_samples,
        "iterations": sum(iterations), "threads_made": sum(threads_made), "cpu_stats": cpu.stats(),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
