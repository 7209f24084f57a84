"""In-process collectors: the native CPU and heap engine (`cpu`, `heap`), plus the wall-clock
sampler, thread dumps and runtime statistics (`wall`, `threads`, `runtime`).

The native engine (``_engine``, a C extension) runs on Linux with the CPython versions in
``versions.ENGINE_VERSIONS`` (GIL builds). Where it is refused, did not build or cannot load,
``UNAVAILABLE_REASON`` says why: CPU profiles then come from the pure-Python fallback sampler
(``cpu.mode() == "fallback"``, profiles labelled approximate in their comments) and
``heap.available()`` is False (starting it raises ProfilingError with the reason).
``PYPROFNB_ENGINE=fallback`` in the environment forces the fallback.
"""
from __future__ import annotations

import os

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

from . import cpu, heap  # noqa: E402  (they read _engine above)

__all__ = ["cpu", "heap", "UNAVAILABLE_REASON"]
