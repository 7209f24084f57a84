"""An approximate CPU profile where the native engine cannot run: a pure-Python sampler.

The native engine (`cpu`) records a thread's stack at the instant its own CPU timer fires,
inside the thread. Where that engine is missing (a CPython it does not support, a
free-threaded build, another platform), this sampler keeps the CPU *totals* exact and makes
only their *attribution* approximate: a daemon thread visits every thread ``hz`` times a
second, reads the CPU time the kernel has charged to that thread since the previous visit
(its per-thread CPU clock), and charges that time to the Python stack the thread shows now
(`sys._current_frames`). Threads blocked in I/O or sleeping use no CPU, so they cost
nothing, as in the engine's profile.

What it cannot do, and why the profile's comments say "approximate":
- The sampler sees a thread only when it holds the GIL, i.e. where the thread let go of it.
  CPU spent inside one long C call that keeps the GIL (``sorted`` of a big list, a regex
  match) is charged to wherever the thread stands at the next visit, usually the line after
  the call.
- The time between two visits goes to the stack seen at the second one: a function that ran
  for less than a visit interval and returned is charged to its caller or successor.
- CPU a thread used after its last visit before it exited is lost; a thread that lived less
  than one visit interval may be missed entirely.
The profile has the engine's shape (``samples/count`` and ``cpu/nanoseconds``, period
1e9/hz, ``thread`` and ``thread_id`` labels), so every report and endpoint reads it alike.

>>> s = FallbackSession(100); s.start(); work(); prof = s.stop()
"""
from __future__ import annotations

import sys
import threading
import time

from typing import TYPE_CHECKING

from ..errors import ProfilingError

if TYPE_CHECKING:  # the model (and NumPy) is imported when a profile is built, not before
    from ..model.profile import Profile

COMMENT = (
    "approximate CPU profile: pyprofnb's pure-Python fallback sampler (the native engine is "
    "not available here: {reason}); each thread's CPU time is exact, its attribution to "
    "stacks is sampled where the thread released the GIL"
)

_UNKNOWN = ("<unknown code>", "", 0, 0, "<unknown code>")


def _tid_clock(tid: int) -> int:
    """The kernel's clock id for thread `tid`'s CPU time (what pthread_getcpuclockid returns,
    built from the kernel thread id, so a thread that has exited gives EINVAL instead of
    touching a freed pthread struct): ~tid << 3 | CPUCLOCK_PERTHREAD | CPUCLOCK_SCHED."""
    return (~tid << 3) | 6


def unavailable_reason() -> str:
    """Why this sampler cannot run here, or '' when it can."""
    if not sys.platform.startswith("linux"):
        return f"the fallback CPU sampler reads Linux per-thread CPU clocks, not available on {sys.platform}"
    try:
        time.clock_gettime_ns(_tid_clock(threading.get_native_id()))
    except (OSError, AttributeError) as exc:
        return f"this kernel does not expose per-thread CPU clocks: {exc}"
    return ""


class _Thread:
    """What the sampler remembers of one thread between visits."""

    __slots__ = ("clock", "cpu", "carry")

    def __init__(self, clock: int, cpu: int):
        self.clock, self.cpu, self.carry = clock, cpu, 0


class FallbackSession:
    """One profile: `start`, then `stop` returns it. Same interface as the engine's session."""

    approximate = True

    def __init__(self, hz: int, reason: str = ""):
        self.hz = hz
        self.period = 1_000_000_000 // hz
        self.reason = reason or "unknown"
        # (thread ident, ((code, line), ...) leaf first) -> [samples, nanoseconds]
        self.counts: dict = {}
        self.names: dict[int, str] = {}
        self.threads: dict[tuple[int, int], _Thread] = {}
        self.native_ids: dict[int, int] = {}
        self.stop_event = threading.Event()
        self.thread: threading.Thread | None = None
        self.me = 0
        self.time_nanos = 0
        self.start_mono = 0
        self.visits = 0
        self.unattributed_ns = 0  # CPU of threads whose kernel id could not be learnt
        self.lost_threads = 0

    def start(self) -> None:
        why = unavailable_reason()
        if why:
            raise ProfilingError(f"cpu profiling is unavailable: {why}")
        self.time_nanos = time.time_ns()
        self.start_mono = time.monotonic_ns()
        # Threads alive now count from now; threads born later count from their first
        # instruction (CPU clock 0), so a thread that starts between two visits is not cut.
        self._refresh_threads()
        for ident, tid in self.native_ids.items():
            self._baseline(ident, tid)
        ready = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(ready,), name="pyprofnb-cpu-fallback", daemon=True)
        self.thread.start()
        ready.wait()

    def _baseline(self, ident: int, tid: int) -> None:
        clock = _tid_clock(tid)
        try:
            self.threads[(ident, tid)] = _Thread(clock, time.clock_gettime_ns(clock))
        except OSError:
            pass  # exited meanwhile

    def _refresh_threads(self) -> None:
        for t in threading.enumerate():
            if t.ident is not None and t.native_id is not None:
                self.native_ids[t.ident] = t.native_id
                self.names[t.ident] = t.name

    def _run(self, ready: threading.Event) -> None:
        self.me = threading.get_ident()
        ready.set()
        interval = 1.0 / self.hz
        while not self.stop_event.wait(interval):
            self._visit()

    def _visit(self) -> None:
        self.visits += 1
        frames = sys._current_frames()
        if any(ident not in self.native_ids for ident in frames):
            self._refresh_threads()
        period, counts, threads = self.period, self.counts, self.threads
        seen = set()
        for ident, frame in frames.items():
            if ident == self.me:
                continue
            tid = self.native_ids.get(ident)
            if tid is None:
                continue  # a thread not made by `threading`: its kernel id is not known
            key = (ident, tid)
            seen.add(key)
            st = threads.get(key)
            if st is None:
                st = threads[key] = _Thread(_tid_clock(tid), 0)
            try:
                now = time.clock_gettime_ns(st.clock)
            except OSError:
                continue  # the thread exited after _current_frames
            delta = now - st.cpu
            if delta < 0:  # the kernel id was reused by another thread: start over
                st.cpu, st.carry = now, 0
                continue
            if delta == 0:
                continue
            st.cpu = now
            total = st.carry + delta
            ticks, st.carry = divmod(total, period)
            stack = []
            while frame is not None:
                stack.append((frame.f_code, frame.f_lineno))
                frame = frame.f_back
            cell = counts.get((ident, tuple(stack)))
            if cell is None:
                counts[(ident, tuple(stack))] = [ticks, delta]
            else:
                cell[0] += ticks
                cell[1] += delta
        frame = None
        gone = [k for k in threads if k not in seen]
        for k in gone:
            del threads[k]
            self.native_ids.pop(k[0], None)
            self.lost_threads += 1

    def stop(self) -> "Profile":
        self.stop_event.set()
        if self.thread is not None and self.thread is not threading.current_thread():
            self.thread.join()
        self._visit()  # charge what each thread used since the last visit
        return self._build()

    def stats(self) -> dict:
        return {
            "engine": "fallback",
            "running": self.thread is not None and not self.stop_event.is_set(),
            "visits": self.visits,
            "threads": len(self.threads),
            "threads_exited": self.lost_threads,
        }

    def _build(self) -> "Profile":
        from ..model.profile import ProfileBuilder

        b = ProfileBuilder(
            [("samples", "count"), ("cpu", "nanoseconds")],
            period_type=("cpu", "nanoseconds"),
            period=self.period,
            comments=[COMMENT.format(reason=self.reason)],
        )
        frame_cache: dict = {}
        for (ident, frames), (n, ns) in self.counts.items():
            stack = []
            for item in frames:
                f = frame_cache.get(item)
                if f is None:
                    code, line = item
                    f = frame_cache[item] = (
                        _UNKNOWN if code is None
                        else (code.co_qualname, code.co_filename, line or 0, code.co_firstlineno, code.co_name)
                    )
                stack.append(f)
            name = self.names.get(ident, f"Thread-{ident}")
            b.add(stack, [n, ns], labels={"thread": name, "thread_id": str(ident)})
        self.counts = {}
        return b.build(time_nanos=self.time_nanos, duration_nanos=time.monotonic_ns() - self.start_mono)

