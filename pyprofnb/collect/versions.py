"""Which interpreters the native engine supports, and why the others are refused.

One table, read by setup.py (whether to build the extension at all) and by
``pyprofnb.collect`` (whether to load it). Where the engine is refused, CPU profiles come
from the pure-Python fallback sampler (``collect/fallback.py``), labelled approximate, and
heap profiles are unavailable. This module imports nothing of ours: setup.py loads it by path.
"""
from __future__ import annotations

# CPython minor versions whose frame layout the engine reads (collect/engine/frames_cpython.h)
# and whose tests run here (`make test-pythons`: 3.11 on the host, the rest in a sid chroot).
ENGINE_VERSIONS = ((3, 11), (3, 13), (3, 14), (3, 15))

REFUSED = {
    (3, 12): (
        "CPython 3.12 is not supported by the native engine: no 3.12 interpreter or headers "
        "can be reached from this project's machines (Debian carries 3.11 and 3.13 to 3.15, "
        "no suite has a 3.12 source package), so its frame layout cannot be tested"
    ),
}


def engine_refusal(version_info=None, implementation: str | None = None, platform: str | None = None,
                   gil_disabled: bool | None = None) -> str:
    """'' when the native engine supports this interpreter, else the reason it does not."""
    import sys
    import sysconfig

    version = tuple((version_info or sys.version_info)[:2])
    implementation = implementation or sys.implementation.name
    platform = platform or sys.platform
    if gil_disabled is None:
        gil_disabled = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
    name = f"{implementation} {version[0]}.{version[1]}"
    if not platform.startswith("linux"):
        return f"the native profiling engine needs Linux (per-thread CPU-clock timers), not {platform}"
    if implementation != "cpython":
        return f"the native profiling engine reads CPython's frames; this is {name}"
    if gil_disabled:
        return (f"the native profiling engine does not support free-threaded CPython ({name}t): its "
                "frames and thread states are read under the GIL's ordering, which that build lacks")
    if version in REFUSED:
        return REFUSED[version]
    if version not in ENGINE_VERSIONS:
        supported = ", ".join(f"{a}.{b}" for a, b in ENGINE_VERSIONS)
        return f"the native profiling engine supports CPython {supported}; {name} has not been tested"
    return ""
