"""A CPU-time profile of every thread, from per-thread CPU timers (the native engine).

Each thread's own CPU clock fires SIGPROF at that thread every 1/hz s of CPU it uses; the
signal handler records its Python stack. So samples land at random instants of real CPU use
(not where the GIL happens to change hands), and threads blocked in I/O or sleeping cost
nothing. A drain thread turns the captures into samples every 20 ms and gives timers to new
threads.

Profile: sample types ``samples/count`` and ``cpu/nanoseconds``, period_type
``cpu/nanoseconds``, period 1e9/hz, string labels ``thread`` (name) and ``thread_id``
(``threading.get_ident()``).

>>> prof = cpu.profile(5)                  # blocks for 5 s
>>> with CPUProfiler() as p: work()        # or around a block of code
>>> p.profile.top()
"""
from __future__ import annotations

import atexit
import os
import threading
import time

from ..errors import ProfilingError, ProfilingInUseError
from ..profile import Profile, ProfileBuilder
from . import UNAVAILABLE_REASON, _engine, fallback

DEFAULT_HZ = 100
_DRAIN_INTERVAL = 0.02
_UNKNOWN_FRAME = ("<unknown code>", "", 0, 0, "<unknown code>")

_lock = threading.Lock()
_session: "_Session | None" = None


# Where the engine is missing, the pure-Python fallback sampler (approximate) takes over.
_FALLBACK_REASON = fallback.unavailable_reason() if _engine is None else ""


def available() -> bool:
    """Whether CPU profiles can be taken here: by the native engine, or the fallback sampler."""
    return _engine is not None or not _FALLBACK_REASON


def mode() -> str:
    """``"native"`` (the engine), ``"fallback"`` (approximate: see collect/fallback.py) or
    ``"unavailable"``."""
    return "native" if _engine is not None else "fallback" if not _FALLBACK_REASON else "unavailable"


def running() -> bool:
    return _session is not None


def start(hz: int = DEFAULT_HZ) -> None:
    """Start profiling every thread's CPU at ``hz`` samples per CPU-second of each thread."""
    global _session
    if not available():
        raise ProfilingError(f"cpu profiling is unavailable: {UNAVAILABLE_REASON}; {_FALLBACK_REASON}")
    hz = _check_hz(hz)
    with _lock:
        if _session is not None:
            raise ProfilingInUseError("cpu profiling already in use")
        session = _Session(hz) if _engine is not None else fallback.FallbackSession(hz, UNAVAILABLE_REASON)
        session.start()
        _session = session


def stop() -> Profile:
    """Stop profiling and return the profile since `start`."""
    global _session
    with _lock:
        session, _session = _session, None
    if session is None:
        raise ProfilingError("cpu profiling is not running; call start() first")
    return session.stop()


def profile(seconds: float, hz: int = DEFAULT_HZ, stop_event: threading.Event | None = None) -> Profile:
    """Profile for ``seconds`` (less if ``stop_event`` is set meanwhile) and return the profile."""
    if not isinstance(seconds, (int, float)) or seconds < 0:
        raise ProfilingError(f"seconds must be a non-negative number, got {seconds!r}")
    start(hz)
    try:
        (stop_event or threading.Event()).wait(seconds)
    finally:
        prof = stop()
    return prof


def stats() -> dict:
    """The engine's counters: captures, drops, unknown frames, live timers."""
    if _engine is None:
        session = _session
        return session.stats() if session is not None else {"engine": mode()}
    return {**_engine.cpu_stats(), **_engine.walk_stats()}


class CPUProfiler:
    """Context manager: ``with CPUProfiler() as p: ...`` then ``p.profile``."""

    def __init__(self, hz: int = DEFAULT_HZ):
        self.hz = _check_hz(hz)
        self.profile: Profile | None = None

    def __enter__(self) -> "CPUProfiler":
        start(self.hz)
        return self

    def __exit__(self, *exc) -> None:
        self.profile = stop()


def _check_hz(hz) -> int:
    if isinstance(hz, bool) or not isinstance(hz, int) or not 1 <= hz <= 10_000:
        raise ProfilingError(f"hz must be an integer in 1..10000, got {hz!r}")
    return hz


class _Session:
    def __init__(self, hz: int):
        self.hz = hz
        self.period = 1_000_000_000 // hz
        # (thread ident, ((code or None, line), ...) leaf first) -> [samples, nanoseconds]
        self.counts: dict = {}
        self.names: dict[int, str] = {}
        self.engine_lock = threading.Lock()  # cpu_sync/cpu_drain: one consumer at a time
        self.stop_event = threading.Event()
        self.thread: threading.Thread | None = None
        self.drain_tid = 0
        self.time_nanos = 0
        self.start_mono = 0
        self.pid = os.getpid()

    def start(self) -> None:
        self.time_nanos = time.time_ns()
        self.start_mono = time.monotonic_ns()
        _engine.cpu_start(self.hz)
        ready = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(ready,), name="pyprofnb-cpu-drain", daemon=True)
        self.thread.start()
        ready.wait()
        with self.engine_lock:  # timers exist before start() returns
            _engine.cpu_sync(self.drain_tid)

    def _run(self, ready: threading.Event) -> None:
        self.drain_tid = threading.get_native_id()  # the drain thread itself is not profiled
        ready.set()
        while not self.stop_event.wait(_DRAIN_INTERVAL):
            with self.engine_lock:
                _engine.cpu_sync(self.drain_tid)
                self._drain()

    def _drain(self) -> None:
        records = _engine.cpu_drain()
        if not records:
            return
        counts, period = self.counts, self.period
        for ident, weight, frames in records:
            key = (ident, frames)
            slot = counts.get(key)
            if slot is None:
                counts[key] = [weight, weight * period]
            else:
                slot[0] += weight
                slot[1] += weight * period
            if ident not in self.names:
                self._refresh_names()

    def _refresh_names(self) -> None:
        for t in threading.enumerate():
            self.names[t.ident] = t.name

    def stop(self) -> Profile:
        _engine.cpu_stop_timers()
        self.stop_event.set()
        if self.thread is not None and self.thread is not threading.current_thread():
            self.thread.join()
        with self.engine_lock:
            self._drain()
        _engine.cpu_release()
        return self._build()

    def _build(self) -> Profile:
        b = ProfileBuilder(
            [("samples", "count"), ("cpu", "nanoseconds")],
            period_type=("cpu", "nanoseconds"),
            period=self.period,
        )
        frame_cache: dict = {}
        for (ident, frames), (n, ns) in self.counts.items():
            stack = []
            for item in frames:
                f = frame_cache.get(item)
                if f is None:
                    code, line = item
                    f = frame_cache[item] = (
                        _UNKNOWN_FRAME if code is None
                        else (code.co_qualname, code.co_filename, line, code.co_firstlineno, code.co_name)
                    )
                stack.append(f)
            name = self.names.get(ident, f"Thread-{ident}")
            b.add(stack, [n, ns], labels={"thread": name, "thread_id": str(ident)})
        self.counts = {}
        return b.build(time_nanos=self.time_nanos, duration_nanos=time.monotonic_ns() - self.start_mono)


def _after_fork_in_child() -> None:
    """The child has no timers and no drain thread: it starts with profiling off."""
    global _session, _lock
    _lock = threading.Lock()
    _session = None
    if _engine is not None:
        _engine.cpu_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _disarm_at_exit() -> None:
    """No SIGPROF while the interpreter tears itself down."""
    if _session is not None and _engine is not None:
        _engine.cpu_stop_timers()


atexit.register(_disarm_at_exit)
