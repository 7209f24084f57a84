"""In-process collectors: the native CPU and heap engine (`cpu`, `heap`), plus the wall-clock
sampler, thread dumps and runtime statistics (`wall`, `threads`, `runtime`).

The native engine (``_engine``, a C extension) exists only on Linux with CPython 3.11; where
it did not build or cannot load, ``cpu.available()`` and ``heap.available()`` are False,
``UNAVAILABLE_REASON`` says why, and starting either raises ProfilingError with that reason.
"""
from __future__ import annotations

import platform
import sys


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

from . import cpu, heap  # noqa: E402  (they read _engine above)

__all__ = ["cpu", "heap", "UNAVAILABLE_REASON"]
