"""A sampled heap profile of Python's allocators (the native engine), like Go's.

Hooks on the PyMem OBJ and MEM domains sample allocations by bytes: on average one sample per
``rate`` bytes allocated, at exponentially distributed gaps, so a block of s bytes is sampled
with probability 1-exp(-s/rate). Each sampled block's stack is kept, and the block is tracked
until freed. `profile` returns all four of Go's heap sample types, unsampled per block with the
weight 1/(1-exp(-s/rate)) (`pyprofnb.model.profile.heap_unsample_weight`): ``alloc_objects``,
``alloc_space`` (everything allocated since `start`/`reset`) and ``inuse_objects``,
``inuse_space`` (what is still allocated). ``rate=1`` records every allocation exactly.

Default rate, 128 KiB: Python objects are mostly under 512 bytes, so Go's 512 KiB gives too
few samples; at 128 KiB a workload allocating 100 MB/s takes ~800 samples a second and the
hooks cost a few percent (benchmarks/bench_engine.py measures it), while rates of 16-32 KiB
cost measurably more for little gain in a profile of a few seconds.

Not seen: memory from ``malloc`` in C extensions (NumPy array buffers) and from the RAW domain;
blocks allocated before `start`. After `stop`, the in-use figures are those at the stop.

>>> heap.start()
>>> ...
>>> prof = heap.profile()
>>> prof.top(sample_index="inuse_space")
"""
from __future__ import annotations

import os
import threading
import time

from ..errors import ProfilingError, ProfilingInUseError
from ..model.profile import Profile, ProfileBuilder
from . import UNAVAILABLE_REASON, _engine

DEFAULT_RATE = 131072
_SAMPLE_TYPES = [("alloc_objects", "count"), ("alloc_space", "bytes"), ("inuse_objects", "count"), ("inuse_space", "bytes")]

_lock = threading.RLock()  # start/stop/reset/profile; the hooks themselves only need the GIL
_state = {"rate": DEFAULT_RATE, "time_nanos": 0, "start_mono": 0, "stop_mono": 0}


def available() -> bool:
    """Whether the native engine loaded (Linux, CPython 3.11)."""
    return _engine is not None


def running() -> bool:
    return _engine is not None and _engine.heap_running()


def start(rate: int = DEFAULT_RATE) -> None:
    """Start sampling allocations, on average one per ``rate`` bytes; forgets earlier samples."""
    if _engine is None:
        raise ProfilingError(f"heap profiling is unavailable: {UNAVAILABLE_REASON}")
    if isinstance(rate, bool) or not isinstance(rate, int) or rate < 1:
        raise ProfilingError(f"rate must be a positive integer number of bytes, got {rate!r}")
    with _lock:
        if _engine.heap_running():
            raise ProfilingInUseError("heap profiling already in use")
        _engine.heap_start(rate)
        _state.update(rate=rate, time_nanos=time.time_ns(), start_mono=time.monotonic_ns(), stop_mono=0)


def stop() -> None:
    """Stop sampling (the data stay readable with `profile` until the next `start`/`reset`)."""
    if _engine is None:
        return
    with _lock:
        if _engine.heap_running():
            _engine.heap_stop()
            _state["stop_mono"] = time.monotonic_ns()


def reset() -> None:
    """Forget all samples and tracked blocks; sampling goes on if it was on."""
    if _engine is None:
        return
    with _lock:
        _engine.heap_reset()
        _state.update(time_nanos=time.time_ns(), start_mono=time.monotonic_ns(), stop_mono=0)


def stats() -> dict:
    """The engine's counters: rate, samples taken, live sampled blocks, stacks, table memory."""
    if _engine is None:
        return {"running": False, "available": False, "reason": UNAVAILABLE_REASON}
    return {"available": True, **_engine.heap_stats()}


def profile() -> Profile:
    """The heap profile so far: alloc_objects, alloc_space, inuse_objects, inuse_space."""
    rate = _state["rate"]
    b = ProfileBuilder(_SAMPLE_TYPES, period_type=("space", "bytes"), period=rate, default_sample_type="inuse_space")
    with _lock:
        records = _engine.heap_snapshot() if _engine is not None else []
        end = _state["stop_mono"] or time.monotonic_ns()
        duration = end - _state["start_mono"] if _state["start_mono"] else 0
    frame_cache: dict = {}
    for frames, ao, asp, io, isp in records:
        values = [round(ao), round(asp), round(io), round(isp)]
        if not any(values):
            continue
        stack = []
        for item in frames:
            f = frame_cache.get(item)
            if f is None:
                code, line = item
                f = frame_cache[item] = (code.co_qualname, code.co_filename, line, code.co_firstlineno, code.co_name)
            stack.append(f)
        avg = round(asp / ao) if ao else 0
        b.add(stack, values, num_labels={"bytes": (avg, "bytes")})
    return b.build(time_nanos=_state["time_nanos"], duration_nanos=duration)


class HeapProfiler:
    """Context manager: ``with HeapProfiler(rate=1) as h: ...`` then ``h.profile``."""

    def __init__(self, rate: int = DEFAULT_RATE):
        self.rate = rate
        self.profile: Profile | None = None

    def __enter__(self) -> "HeapProfiler":
        start(self.rate)
        return self

    def __exit__(self, *exc) -> None:
        stop()
        self.profile = profile()


def _after_fork_in_child() -> None:
    """A fork child starts with heap profiling off and empty tables (it may start again)."""
    global _lock
    _lock = threading.RLock()
    if _engine is not None:
        _engine.heap_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
