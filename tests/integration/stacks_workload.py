"""Workloads whose Python stacks cross C code, profiled for CPU; prints one JSON line.

Each construct calls a CPU-burning Python function from C (a builtin, a C-implemented
decorator, a descriptor, the interpreter's __init__ and with-statement machinery, the
asyncio Task's C step), from a Python function named ``outer_<construct>``. From 3.12 on,
CPython puts an entry or shim frame owned by the interpreter at each such boundary; a walk
that stops there (instead of stepping over it) sees only the leaf. For every construct the
script reports how many CPU samples have the leaf ``burn_<construct>`` and how many of those
also have ``outer_<construct>`` and ``main`` below it.

    python tests/integration/stacks_workload.py [--seconds-each 0.4] [--hz 1000]
The engine (or, with PYPROFNB_ENGINE=fallback, the fallback sampler) is whatever
pyprofnb.collect.cpu uses here; PYTHON_JIT=1 turns on the JIT on builds that have one.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from pyprofnb.collect import cpu  # noqa: E402

SLICE = 0.002  # CPU seconds per call of a burn_ function


def spin(seconds: float) -> int:
    end = time.thread_time() + seconds
    n = 0
    while time.thread_time() < end:
        n += 1
    return n


def burn_sorted_key(x):
    spin(SLICE)
    return -x


def outer_sorted_key(budget):
    calls = int(budget / SLICE)
    return sorted(range(calls), key=burn_sorted_key)


def burn_generator():
    while True:
        spin(SLICE)
        yield 1


def outer_generator(budget):
    gen = burn_generator()
    return sum(next(gen) for _ in range(int(budget / SLICE)))  # builtins drive both


def burn_map(x):
    return spin(SLICE) + x


def outer_map(budget):
    return list(map(burn_map, range(int(budget / SLICE))))


def burn_reduce(acc, x):
    spin(SLICE)
    return acc + x


def outer_reduce(budget):
    return functools.reduce(burn_reduce, range(int(budget / SLICE)), 0)


@functools.lru_cache(maxsize=None)  # a C-implemented decorator calls the function
def burn_decorator(x):
    return spin(SLICE)


def outer_decorator(budget):
    return [burn_decorator(i) for i in range(int(budget / SLICE))]


class Managed:
    def __enter__(self):
        burn_context_manager()
        return self

    def __exit__(self, *exc):
        burn_context_manager()
        return False


def burn_context_manager():
    spin(SLICE)


def outer_context_manager(budget):
    for _ in range(int(budget / SLICE / 2)):
        with Managed():
            pass


@contextlib.contextmanager
def burn_contextlib():
    spin(SLICE)
    yield
    spin(SLICE)


def outer_contextlib(budget):
    for _ in range(int(budget / SLICE / 2)):
        with burn_contextlib():
            pass


class Init:
    def __init__(self):
        burn_init()


def burn_init():
    spin(SLICE)


def outer_init(budget):
    return [Init() for _ in range(int(budget / SLICE))]


class Prop:
    @property
    def value(self):
        return burn_property()


def burn_property():
    return spin(SLICE)


def outer_property(budget):
    p = Prop()
    return [p.value for _ in range(int(budget / SLICE))]


async def burn_asyncio(n):
    for _ in range(n):
        spin(SLICE)
        await asyncio.sleep(0)


async def tasks(n):
    await asyncio.gather(*(asyncio.create_task(burn_asyncio(n // 4)) for _ in range(4)))


def outer_asyncio(budget):
    asyncio.run(tasks(int(budget / SLICE)))


CONSTRUCTS = {
    "sorted_key": outer_sorted_key,
    "generator": outer_generator,
    "map": outer_map,
    "reduce": outer_reduce,
    "decorator": outer_decorator,
    "context_manager": outer_context_manager,
    "contextlib": outer_contextlib,
    "init": outer_init,
    "property": outer_property,
    "asyncio": outer_asyncio,
}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds-each", type=float, default=0.4)
    ap.add_argument("--hz", type=int, default=1000)
    args = ap.parse_args()
    for fn in CONSTRUCTS.values():  # warm up: specialisation (and the JIT) settle first
        fn(0.02)
    cpu.start(args.hz)
    for fn in CONSTRUCTS.values():
        fn(args.seconds_each)
    prof = cpu.stop()
    frames = prof.frames_df()
    samples = prof.values[:, 0]
    stacks: dict[int, list] = {}
    for s, fn, fl in zip(frames["sample"], frames["function"], frames["file"]):
        stacks.setdefault(int(s), []).append((fn, fl))
    out = {}
    bogus = set()
    for name in CONSTRUCTS:
        leaf = outer = full = 0
        example = None
        for s, st in stacks.items():
            names = [f.rsplit(".", 1)[-1] for f, _ in st]
            if names and names[0] == "spin" and len(names) > 1 and names[1] == f"burn_{name}":
                leaf += int(samples[s])
                if f"outer_{name}" in names:
                    outer += int(samples[s])
                    if "main" in names:
                        full += int(samples[s])
                elif example is None:
                    example = names
        out[name] = {"leaf": leaf, "with_outer": outer, "full": full, "cut_example": example}
    for st in stacks.values():
        for fn, fl in st:
            if fl in ("__init__", "<shim>", "") and fn != "<unknown code>":
                bogus.add(f"{fn}@{fl}")
    jit = getattr(sys, "_jit", None)
    print(json.dumps({
        "python": sys.version.split()[0], "mode": cpu.mode(),
        "jit": bool(jit and jit.is_enabled()) if jit else None,
        "constructs": out, "bogus_frames": sorted(bogus), "stats": cpu.stats(),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
