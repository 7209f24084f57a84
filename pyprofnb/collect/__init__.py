"""In-process collectors: the native CPU and heap engine (`cpu`, `heap`), plus the wall-clock
sampler, thread dumps and runtime statistics (`wall`, `threads`, `runtime`).

The native engine (``_engine``, a C extension) exists only on Linux with CPython 3.11; where
it did not build or cannot load, ``cpu.available()`` and ``heap.available()`` are False,
``UNAVAILABLE_REASON`` says why, and starting either raises ProfilingError with that reason
(`require` raises it up front).

Task labels: `set_task` gives the calling thread a task id that the engine writes into each
CPU and heap sample it takes on that thread (the ``task`` label); 0 clears it. An asyncio
task-step hook calls it around each step.
"""
from __future__ import annotations

import platform
import sys

from ..errors import ProfilingError


def _load_engine():
    if not sys.platform.startswith("linux"):
        return None, f"the native profiling engine needs Linux, not {sys.platform}"
    if platform.python_implementation() != "CPython" or sys.version_info[:2] != (3, 11):
        return None, (
            "the native profiling engine supports CPython 3.11 only, not "
            f"{platform.python_implementation()} {platform.python_version()}"
        )
    try:
        from . import _engine
    except ImportError as exc:
        return None, f"the native profiling engine (pyprofnb.collect._engine) is not built: {exc}"
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
        raise ProfilingError(f"{kind} profiling is unavailable: {UNAVAILABLE_REASON}")


def set_task(task_id: int, name: str | None = None) -> int:
    """Label this thread's CPU and heap samples with ``task_id`` (0: no task) until the next
    call; ``name``, if given, is shown instead of the id. Returns the previous id."""
    if name is not None:
        if len(_TASK_NAMES) >= _MAX_TASK_NAMES:
            _TASK_NAMES.clear()
        _TASK_NAMES[task_id] = name
    return _engine.set_task(task_id) if _engine is not None else 0


def task_label(task_id: int) -> str:
    return _TASK_NAMES.get(task_id) or str(task_id)


from . import cpu, heap  # noqa: E402  (they read _engine above)

__all__ = ["cpu", "heap", "require", "set_task", "paused", "check_hz", "UNAVAILABLE_REASON", "KINDS", "MAX_HZ"]
