"""A CPU-time profile of every thread, from CPU timers (the native engine).

A CPU timer on the process's CPU clock fires SIGPROF every 1/hz s of CPU the process uses,
and since Linux 6.4 the kernel sends it to the thread that is running (weighted by the
periods it stands for), so every thread's CPU counts from birth to exit, threads of 1 ms like
threads of 1 hour. On older kernels, where that signal would go to the main thread, Go's
design is used: a CPU timer per thread, and setitimer for threads that have none yet. The
signal handler records the Python stack. So samples land at random instants of real CPU use (not
where the GIL happens to change hands), and threads blocked in I/O or sleeping cost nothing.
A native thread sums the captures (so a C call holding the GIL loses nothing); a drain
thread turns them into samples every 200 ms (20 ms, giving timers to new threads, in the
fallback). Anything that
could not be kept is counted in the profile's comments.

Profile: sample types ``samples/count`` and ``cpu/nanoseconds``, period_type
``cpu/nanoseconds``, period 1e9/hz, string labels ``thread`` (name) and ``thread_id``
(``threading.get_ident()``), and ``task`` when the thread had a task id set
(`pyprofnb.collect.set_task`). CPU of threads without a Python thread state (C libraries'
own threads) appears under the thread ``[non-Python thread]``. ``time_nanos`` is the start,
``duration_nanos`` the length of the profile, as in Go.

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
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the model (and NumPy) is imported when a profile is built, not before
    from ..model.profile import Profile
from . import UNAVAILABLE_REASON, _engine, check_hz, fallback, task_label
from . import threads as _threads

DEFAULT_HZ = 100
# The drain needs the GIL, so each look costs the profiled program a GIL hand-off: every
# 20 ms when new threads need timers of their own (the per-thread fallback), else every
# 200 ms (the native aggregator keeps everything meanwhile).
_DRAIN_INTERVAL = 0.02
_DRAIN_INTERVAL_PROCESS_TIMER = 0.2
_UNKNOWN_FRAME = ("<unknown code>", "", 0, 0, "<unknown code>")
_NATIVE_FRAME = ("[non-Python code]", "", 0, 0, "[non-Python code]")
_TRUNCATED = ("[pyprofnb: stack truncated]", "", 0, 0, "[pyprofnb: stack truncated]")
_NATIVE_THREAD = "[non-Python thread]"
_SHIM = ()  # pyprofnb's Thread.start wrapper: left out of stacks (its caller called start())

# None: the engine decides (per-thread timers only where the process timer is setitimer,
# kernels before 6.4); True/False force them on/off (tests of the fallback, benchmarks).
_PER_THREAD: bool | None = None

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
    hz = check_hz(hz)
    if _engine is None:  # the fallback sampler: no engine state to pause
        with _lock:
            if _session is not None:
                raise ProfilingInUseError("cpu profiling already in use")
            session = fallback.FallbackSession(hz, UNAVAILABLE_REASON)
            session.start()
            _session = session
        return
    previous = _engine.set_paused(True)  # starting is pyprofnb's work, not the caller's
    try:
        with _lock:
            if _session is not None:
                raise ProfilingInUseError("cpu profiling already in use")
            session = _Session(hz)
            session.start()
            _session = session
    finally:
        _engine.set_paused(previous)


def stop() -> Profile:
    """Stop profiling and return the profile since `start`."""
    global _session
    if _engine is None:  # the fallback sampler, or nothing
        with _lock:
            session, _session = _session, None
        if session is None:
            raise ProfilingError("cpu profiling is not running; call start() first")
        return session.stop()
    previous = _engine.set_paused(True)  # stopping and building are pyprofnb's work
    try:
        with _lock:
            session, _session = _session, None
        if session is None:
            raise ProfilingError("cpu profiling is not running; call start() first")
        return session.stop()
    finally:
        _engine.set_paused(previous)


def profile(seconds: float, hz: int = DEFAULT_HZ, stop_event: threading.Event | None = None) -> Profile:
    """Profile for ``seconds`` (less if ``stop_event`` is set meanwhile) and return the profile."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not seconds >= 0:
        raise ProfilingError(f"seconds must be a non-negative number, got {seconds!r}")
    start(hz)
    try:
        (stop_event or threading.Event()).wait(seconds)
    finally:
        prof = stop()
    return prof


def stats() -> dict:
    """The engine's counters: captures (by timer kind), drops, unknown frames, live timers,
    frame walks (and walks cut short); the fallback sampler's visits where it runs."""
    if _engine is None:
        session = _session
        return session.stats() if session is not None else {"engine": mode()}
    return {**_engine.cpu_stats(), **_engine.walk_stats()}


class CPUProfiler:
    """Context manager: ``with CPUProfiler() as p: ...`` then ``p.profile``; or
    ``p = CPUProfiler(); p.start(); ...; prof = p.stop()``."""

    def __init__(self, hz: int = DEFAULT_HZ):
        self.hz = check_hz(hz)
        self.profile: Profile | None = None

    def start(self) -> "CPUProfiler":
        start(self.hz)
        return self

    def stop(self) -> Profile:
        self.profile = stop()
        return self.profile

    def __enter__(self) -> "CPUProfiler":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class _Session:
    def __init__(self, hz: int):
        self.hz = hz
        self.period = 1_000_000_000 // hz
        # (tid, ident, task, native, truncated, ((code or None, line), ...)) -> samples
        self.counts: dict = {}
        self.names: dict[int, str] = {}  # kernel tid -> thread name (tids are not reused soon)
        self.engine_lock = threading.Lock()  # cpu_sync/cpu_drain: one consumer at a time
        self.stop_event = threading.Event()
        self.thread: threading.Thread | None = None
        self.drain_tid = 0
        self.time_nanos = 0
        self.start_mono = self.stop_mono = 0
        self.problems: list[str] = []

    def start(self) -> None:
        self.time_nanos = time.time_ns()
        self.start_mono = time.monotonic_ns()
        self._refresh_names()
        _threads.add_start_listener(self._thread_started)
        try:
            _engine.cpu_start(self.hz, -1 if _PER_THREAD is None else int(_PER_THREAD))
        except (RuntimeError, OSError) as exc:
            _threads.remove_start_listener(self._thread_started)
            raise ProfilingError(f"cannot start cpu profiling: {exc}") from None
        ready = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(ready,), name="pyprofnb-cpu-drain", daemon=True)
        self.thread.start()
        ready.wait()
        with self.engine_lock:  # timers exist before start() returns
            _engine.cpu_sync(self.drain_tid)

    def _thread_started(self, thread: threading.Thread) -> None:
        if thread.native_id is not None:
            self.names[thread.native_id] = thread.name

    def _run(self, ready: threading.Event) -> None:
        _engine.set_paused(True)  # the drain thread's own CPU and allocations are not profiled
        self.drain_tid = threading.get_native_id()
        ready.set()
        interval = _DRAIN_INTERVAL if _engine.cpu_stats()["per_thread_timers"] else _DRAIN_INTERVAL_PROCESS_TIMER
        while not self.stop_event.wait(interval):
            with self.engine_lock:
                try:
                    _engine.cpu_sync(self.drain_tid)
                except RuntimeError as exc:  # SIGPROF taken over by another handler
                    self.problems.append(f"pyprofnb: {exc}")
                    return
                self._drain()

    def _drain(self) -> None:
        records = _engine.cpu_drain()
        if not records:
            return
        counts, names = self.counts, self.names
        refreshed = False
        for tid, ident, task, weight, native, truncated, frames in records:
            key = (tid, ident, task, native, truncated, frames)
            counts[key] = counts.get(key, 0) + weight
            if not native and tid not in names and not refreshed:
                self._refresh_names()
                refreshed = True

    def _refresh_names(self) -> None:
        for t in threading.enumerate():
            if t.native_id is not None:
                self.names[t.native_id] = t.name

    def stop(self) -> Profile:
        previous = _engine.set_paused(True)
        try:
            self.stop_mono = time.monotonic_ns()
            _engine.cpu_stop_timers()
            self.stop_event.set()
            if self.thread is not None and self.thread is not threading.current_thread():
                self.thread.join()
            _threads.remove_start_listener(self._thread_started)
            with self.engine_lock:
                self._drain()
            _engine.cpu_release()
            return self._build()
        finally:
            _engine.set_paused(previous)

    def _comments(self) -> list[str]:
        st = _engine.cpu_stats()
        out = list(self.problems)
        lost = st["dropped_ring_full"] + st["dropped_table_full"]
        if lost:
            out.append(f"pyprofnb: {lost} CPU samples were lost "
                       f"({st['dropped_ring_full']} ring full, {st['dropped_table_full']} table full)")
        if st["unknown_frames"]:
            out.append(f"pyprofnb: {st['unknown_frames']} frames of code objects freed before they "
                       "could be read are shown as <unknown code>")
        if st["handler_reinstalls"]:
            out.append("pyprofnb: the SIGPROF handler had been reset by other code and was re-installed")
        return out

    def _build(self) -> Profile:
        from ..model.profile import ProfileBuilder
        b = ProfileBuilder(
            [("samples", "count"), ("cpu", "nanoseconds")],
            period_type=("cpu", "nanoseconds"),
            period=self.period,
            comments=self._comments(),
        )
        frame_cache: dict = {}
        period = self.period
        for (tid, ident, task, native, truncated, frames), n in self.counts.items():
            if native:
                stack = [_NATIVE_FRAME]
                labels = {"thread": _NATIVE_THREAD}
            else:
                stack = []
                for item in frames:
                    f = frame_cache.get(item)
                    if f is None:
                        code, line = item
                        f = frame_cache[item] = (
                            _UNKNOWN_FRAME if code is None
                            else _SHIM if code is _threads.SHIM_CODE
                            else (code.co_qualname, code.co_filename, line, code.co_firstlineno, code.co_name)
                        )
                    if f is not _SHIM:
                        stack.append(f)
                if truncated:
                    stack.append(_TRUNCATED)
                labels = {"thread": self.names.get(tid, f"Thread-{ident}"), "thread_id": str(ident)}
            if task:
                labels["task"] = task_label(task)
            b.add(stack, [n, n * period], labels=labels)
        self.counts = {}
        return b.build(time_nanos=self.time_nanos, duration_nanos=self.stop_mono - self.start_mono)


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
