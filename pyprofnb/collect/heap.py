"""A sampled heap profile of Python's allocators and NumPy's array buffers (the native engine),
like Go's.

Hooks on the PyMem OBJ and MEM domains, and on NumPy's allocation handler (NumPy >= 1.22,
when NumPy is imported), sample allocations by bytes: on average one sample per ``rate``
bytes allocated, at exponentially distributed gaps, so a block of s bytes is sampled with
probability 1-exp(-s/rate). Each sampled block's stack is kept, and the block is tracked
until freed. `profile` returns all four of Go's heap sample types, unsampled per block with
the weight 1/(1-exp(-s/rate)): ``alloc_objects``, ``alloc_space`` (everything allocated since
`start`/`reset`) and ``inuse_objects``, ``inuse_space`` (what is still allocated).
``rate=1`` records every allocation exactly.

Labels: ``allocator=numpy`` marks NumPy's array buffers (Python's own allocations carry no
such label, so their samples look exactly like Go's); ``task``
when the allocating thread had a task id set (`pyprofnb.collect.set_task`); ``bytes`` (a
numeric label) the average block size, as in Go.

Default rate, 128 KiB: Python objects are mostly under 512 bytes, so Go's 512 KiB gives too
few samples; benchmarks/bench_engine.py measures the cost.

Not seen: memory from ``malloc`` in C extensions other than NumPy's array buffers, the RAW
domain, blocks allocated before `start`. After `stop`, the in-use figures are those at the
stop. Another tool that replaces the allocator (``tracemalloc.stop()`` after `start`) removes
the hooks; they are put back at the next `running`/`profile`/`stats`, and the profile's
comments say so.

>>> heap.start()
>>> ...
>>> prof = heap.profile()
>>> prof.top(sample_index="inuse_space")
"""
from __future__ import annotations

import os
import sys
import threading
import time

from ..errors import ProfilingError, ProfilingInUseError
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the model (and NumPy) is imported when a profile is built, not before
    from ..model.profile import Profile
from . import UNAVAILABLE_REASON, _engine, task_label
from .threads import SHIM_FILE_AND_NAME as _SHIM

DEFAULT_RATE = 131072
_SAMPLE_TYPES = [("alloc_objects", "count"), ("alloc_space", "bytes"), ("inuse_objects", "count"), ("inuse_space", "bytes")]
_OVERFLOW = ("[pyprofnb: heap profile tables full]", "", 0, 0, "[pyprofnb: heap profile tables full]")
_TRUNCATED = ("[pyprofnb: stack truncated]", "", 0, 0, "[pyprofnb: stack truncated]")

_lock = threading.RLock()  # start/stop/reset/profile; the hooks themselves only need the GIL
_state = {"rate": DEFAULT_RATE, "reinstalled_at": []}


def available() -> bool:
    """Whether the native engine loaded (Linux, CPython 3.11)."""
    return _engine is not None


def running() -> bool:
    """Whether allocations are being sampled (hooks another tool removed are put back first)."""
    if _engine is None or not _engine.heap_running():
        return False
    _check_hooks()
    return True


def start(rate: int = DEFAULT_RATE) -> None:
    """Start sampling allocations, on average one per ``rate`` bytes; forgets earlier samples."""
    if _engine is None:
        raise ProfilingError(f"heap profiling is unavailable: {UNAVAILABLE_REASON}")
    if isinstance(rate, bool) or not isinstance(rate, int) or rate < 1:
        raise ProfilingError(f"rate must be a positive integer number of bytes, got {rate!r}")
    previous = _engine.set_paused(True)  # pyprofnb's work, not the caller's
    try:
        with _lock:
            if _engine.heap_running():
                raise ProfilingInUseError("heap profiling already in use")
            _engine.heap_start(rate)
            _state.update(rate=rate, reinstalled_at=[])
            _engine.heap_check()  # a hook left in place by an earlier stop may be gone since
            _hook_numpy()
    finally:
        _engine.set_paused(previous)


def stop() -> None:
    """Stop sampling (the data stay readable with `profile` until the next `start`/`reset`)."""
    if _engine is None:
        return
    with _lock:
        if _engine.heap_running():
            _engine.heap_stop()


def reset() -> None:
    """Forget all samples and tracked blocks; sampling goes on if it was on."""
    if _engine is None:
        return
    with _lock:
        _engine.heap_reset()
        _state["reinstalled_at"] = []


def stats() -> dict:
    """The engine's counters: rate, samples taken, live sampled blocks, stacks, table memory,
    hooks re-installed, whether NumPy's array buffers are seen (and if not, why)."""
    if _engine is None:
        return {"running": False, "available": False, "reason": UNAVAILABLE_REASON}
    _check_hooks()
    return {"available": True, **_engine.heap_stats()}


def _hook_numpy() -> None:
    """Sample NumPy's array buffers too, if NumPy is imported (it is never imported here)."""
    np = sys.modules.get("numpy")
    if np is None:
        return
    for name in ("numpy._core._multiarray_umath", "numpy.core._multiarray_umath"):
        mod = sys.modules.get(name)
        capsule = getattr(mod, "_ARRAY_API", None) if mod is not None else None
        if capsule is not None:
            _engine.heap_numpy(capsule)
            return


def _check_hooks() -> None:
    """Put back hooks that another tool removed (e.g. tracemalloc.stop()), and note when."""
    if _engine is None or not _engine.heap_running():
        return
    with _lock:
        if _engine.heap_check():
            _state["reinstalled_at"].append(time.time_ns())
        _hook_numpy()


def profile() -> Profile:
    """The heap profile now: alloc_objects, alloc_space, inuse_objects, inuse_space.

    ``time_nanos`` is when this snapshot is taken and ``duration_nanos`` the time taken to
    build it, as in Go's heap profile."""
    if _engine is None:
        raise ProfilingError(f"heap profiling is unavailable: {UNAVAILABLE_REASON}")
    previous = _engine.set_paused(True)  # building the profile is pyprofnb's work
    try:
        return _profile()
    finally:
        _engine.set_paused(previous)


def _profile() -> Profile:
    from ..model.profile import ProfileBuilder  # (first use imports the model: not the profile's time)

    began = time.time_ns()
    _check_hooks()
    rate = _state["rate"]
    with _lock:
        records = _engine.heap_snapshot() if _engine is not None else []
        st = _engine.heap_stats() if _engine is not None else {}
        reinstalled = list(_state["reinstalled_at"])
    b = ProfileBuilder(_SAMPLE_TYPES, period_type=("space", "bytes"), period=rate,
                       default_sample_type="inuse_space", comments=_comments(st, reinstalled))
    for kind, task, truncated, frames, ao, asp, io, isp in records:
        values = [round(ao), round(asp), round(io), round(isp)]
        if not any(values):
            continue
        stack = [f for f in frames if (f[1], f[0]) != _SHIM] if kind >= 0 else [_OVERFLOW]
        if truncated:
            stack.append(_TRUNCATED)
        labels = {"allocator": "numpy"} if kind == 1 else {}
        if task:
            labels["task"] = task_label(task)
        avg = round(asp / ao) if ao else 0
        b.add(stack, values, labels=labels, num_labels={"bytes": (avg, "bytes")})
    return b.build(time_nanos=began, duration_nanos=time.time_ns() - began)


def _comments(st: dict, reinstalled: list[int]) -> list[str]:
    out = []
    if st.get("overflowed"):
        out.append(f"pyprofnb: {st['overflowed']} samples found the stack tables full; "
                   "they are counted under '[pyprofnb: heap profile tables full]'")
    if st.get("dropped"):
        out.append(f"pyprofnb: {st['dropped']} sampled blocks could not be tracked "
                   "(counted as allocated, not as in use)")
    if reinstalled:
        out.append(f"pyprofnb: another tool removed the allocation hooks (e.g. tracemalloc.stop()); "
                   f"re-installed {len(reinstalled)} time(s), allocations in between were not sampled")
    if st.get("numpy_without_gil"):
        out.append(f"pyprofnb: {st['numpy_without_gil']} NumPy allocations made without the GIL were not sampled")
    return out


class HeapProfiler:
    """The collector protocol (`pyprofnb.collect.Collector`): ``with HeapProfiler(rate=1) as
    h: ...`` then ``h.profile``; or ``h.start()`` ... ``prof = h.stop()``."""

    def __init__(self, rate: int = DEFAULT_RATE):
        self.rate = rate
        self.profile: Profile | None = None

    def start(self) -> "HeapProfiler":
        start(self.rate)
        return self

    def stop(self) -> Profile:
        stop()
        self.profile = profile()
        return self.profile

    def __enter__(self) -> "HeapProfiler":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _after_fork_in_child() -> None:
    """A fork child starts with heap profiling off and empty tables (it may start again)."""
    global _lock
    _lock = threading.RLock()
    if _engine is not None:
        _engine.heap_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
