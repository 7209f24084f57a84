"""In-process collectors: the native CPU and heap engine (`cpu`, `heap`), plus the wall-clock
sampler, thread dumps and runtime statistics (`wall`, `threads`, `runtime`).

The native engine (``_engine``, a C extension) runs on Linux with the CPython versions in
``versions.ENGINE_VERSIONS`` (GIL builds). Where it is refused, did not build or cannot load,
``UNAVAILABLE_REASON`` says why: CPU profiles then come from the pure-Python fallback sampler
(``cpu.mode() == "fallback"``, profiles labelled approximate in their comments) and
``heap.available()`` is False (starting it, or `require("heap")`, raises ProfilingError with
the reason). ``PYPROFNB_ENGINE=fallback`` in the environment forces the fallback.

Task labels: `set_task` gives the calling thread a task id that the engine writes into each
CPU and heap sample it takes on that thread (the ``task`` label); 0 clears it. An asyncio
task-step hook calls it around each step.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ..model.profile import Profile

from ..errors import ProfilingError
from .versions import engine_refusal


def _load_engine():
    reason = engine_refusal()
    if reason:
        return None, reason
    if os.environ.get("PYPROFNB_ENGINE", "") == "fallback":
        return None, "the native profiling engine is switched off (PYPROFNB_ENGINE=fallback)"
    try:
        from . import _engine
    except ImportError as exc:
        return None, f"the native profiling engine (pyprofnb.collect._engine) is not built or cannot be loaded: {exc}"
    return _engine, ""


_engine, UNAVAILABLE_REASON = _load_engine()

KINDS = ("cpu", "heap", "wall", "threads", "runtime")
_NATIVE = ("cpu", "heap")

# Task names shown in the ``task`` label (ids without a name show as the id); bounded.
_TASK_NAMES: dict[int, str] = {}
_MAX_TASK_NAMES = 10_000


MIN_HZ, MAX_HZ = 1, 10_000  # one bound for every sampler (cpu, wall, the engine)


def check_hz(hz) -> int:
    """``hz`` if it is an integer in MIN_HZ..MAX_HZ, else ProfilingError naming it."""
    if isinstance(hz, bool) or not isinstance(hz, int) or not MIN_HZ <= hz <= MAX_HZ:
        raise ProfilingError(f"hz must be an integer in {MIN_HZ}..{MAX_HZ}, got {hz!r}")
    return hz


class paused:
    """``with collect.paused(): ...``: the calling thread's CPU and allocations inside are
    not sampled (pyprofnb's own work, such as building or serving a profile)."""

    __slots__ = ("_previous",)

    def __enter__(self) -> "paused":
        self._previous = _engine.set_paused(True) if _engine is not None else False
        return self

    def __exit__(self, *exc) -> None:
        if _engine is not None:
            _engine.set_paused(self._previous)


def require(kind: str) -> None:
    """Raise ProfilingError saying why, unless collector ``kind`` can run here."""
    if kind not in KINDS:
        raise ProfilingError(f"unknown collector {kind!r}; expected one of {', '.join(KINDS)}")
    if kind in _NATIVE and _engine is None:
        if kind == "cpu":
            from .fallback import unavailable_reason

            if not unavailable_reason():
                return  # the fallback sampler (approximate) takes CPU profiles
            raise ProfilingError(f"cpu profiling is unavailable: {UNAVAILABLE_REASON}; {unavailable_reason()}")
        raise ProfilingError(f"{kind} profiling is unavailable: {UNAVAILABLE_REASON}")


def set_task(task_id: int, name: str | None = None) -> int:
    """Label this thread's CPU and heap samples with ``task_id`` (0: no task) until the next
    call; ``name``, if given, is shown instead of the id. Returns the previous id."""
    if isinstance(task_id, bool) or not isinstance(task_id, int) or not 0 <= task_id < 2**64:
        raise ProfilingError(f"task_id must be an integer in 0..2**64-1 (0: no task), got {task_id!r}")
    if name is not None:
        if len(_TASK_NAMES) >= _MAX_TASK_NAMES:
            _TASK_NAMES.clear()
        _TASK_NAMES[task_id] = name
    return _engine.set_task(task_id) if _engine is not None else 0


def task_label(task_id: int) -> str:
    return _TASK_NAMES.get(task_id) or str(task_id)


class Collector(Protocol):
    """One protocol for every collector: `collector(kind)` makes one.

    ``c.start()`` begins (returns ``c``), ``c.stop()`` ends and returns the Profile, also kept
    as ``c.profile``; ``with collector("cpu") as c: ...`` does both. (The module functions
    ``cpu.profile(seconds)`` and ``wall.profile(seconds)`` profile for a duration;
    ``heap.profile()`` is a snapshot of the heap sampler, as Go's heap profile is.)"""

    profile: "Profile | None"

    def start(self) -> "Collector": ...

    def stop(self) -> "Profile": ...

    def __enter__(self) -> "Collector": ...

    def __exit__(self, *exc) -> None: ...


def collector(kind: str, **options) -> Collector:
    """A `Collector` of ``kind`` (``cpu``: ``hz``; ``heap``: ``rate``; ``wall``: ``hz``), or
    ProfilingError saying why it cannot run here."""
    if kind not in ("cpu", "heap", "wall"):
        raise ProfilingError(f"collector kind must be cpu, heap or wall, got {kind!r}")
    require(kind)
    if kind == "cpu":
        return cpu.CPUProfiler(**options)
    if kind == "heap":
        return heap.HeapProfiler(**options)
    from .wall import WallProfiler

    return WallProfiler(**options)


from . import cpu, heap  # noqa: E402  (they read _engine above)

__all__ = ["Collector", "collector", "cpu", "heap", "require", "set_task", "paused", "check_hz", "UNAVAILABLE_REASON", "KINDS", "MAX_HZ"]
