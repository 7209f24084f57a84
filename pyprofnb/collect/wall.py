"""A wall-clock profile of every thread: a pure-Python sampler over ``sys._current_frames``.

Unlike the CPU profile, a thread blocked in I/O, a lock or ``time.sleep`` is sampled too, so
this answers latency questions ("where do requests wait?"). Each tick adds the real time
elapsed since the previous tick to every thread's current stack.

Profile: sample types ``samples/count`` and ``wall/nanoseconds``, period_type
``wall/nanoseconds``, period 1e9/hz, string labels ``thread`` (name) and ``thread_id``.

>>> prof = wall.profile(5)            # blocks for 5 s
>>> with WallProfiler() as w: work()  # or around a block of code
>>> w.profile
"""
from __future__ import annotations

import collections
import sys
import threading
import time

from ..model.profile import Profile, ProfileBuilder
from . import check_hz
from .threads import code_frame

DEFAULT_HZ = 100


class WallProfiler:
    """Samples all threads' stacks ``hz`` times a second on a daemon thread until `stop`."""

    def __init__(self, hz: int = DEFAULT_HZ):
        self.hz = check_hz(hz)
        self.profile: Profile | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # (thread ident, ((code, line), ...)) -> [samples, nanoseconds]
        self._counts: dict = collections.defaultdict(lambda: [0, 0])
        self._names: dict[int, str] = {}
        self._start_ns = 0

    def start(self) -> "WallProfiler":
        self._start_ns = time.time_ns()
        self._thread = threading.Thread(target=self._run, name="pyprofnb-wall-sampler", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        me = threading.get_ident()
        interval = 1.0 / self.hz
        last = time.perf_counter_ns()
        counts = self._counts
        next_names = 0.0
        while not self._stop.wait(interval):
            now = time.perf_counter_ns()
            elapsed, last = now - last, now
            if now >= next_names:  # thread names change rarely; refresh them twice a second
                self._names.update((t.ident, t.name) for t in threading.enumerate())
                next_names = now + 500_000_000
            for ident, frame in sys._current_frames().items():
                if ident == me:
                    continue
                stack = []
                while frame is not None:
                    stack.append((frame.f_code, frame.f_lineno))
                    frame = frame.f_back
                cell = counts[(ident, tuple(stack))]
                cell[0] += 1
                cell[1] += elapsed
            frame = None

    def stop(self) -> Profile:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.profile = self._build()
        return self.profile

    def _build(self) -> Profile:
        b = ProfileBuilder(
            [("samples", "count"), ("wall", "nanoseconds")],
            period_type=("wall", "nanoseconds"), period=1_000_000_000 // self.hz,
        )
        frames: dict = {}
        for (ident, stack), (n, ns) in self._counts.items():
            resolved = [frames.get(key) or frames.setdefault(key, code_frame(*key)) for key in stack]
            name = self._names.get(ident, f"<no threading.Thread {ident:#x}>")
            b.add(resolved, [n, ns], labels={"thread": name, "thread_id": str(ident)})
        return b.build(time_nanos=self._start_ns, duration_nanos=time.time_ns() - self._start_ns)

    def __enter__(self) -> "WallProfiler":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def profile(seconds: float, hz: int = DEFAULT_HZ, stop_event: threading.Event | None = None) -> Profile:
    """Sample every thread for ``seconds`` (or until ``stop_event`` is set)."""
    sampler = WallProfiler(hz).start()
    try:
        (stop_event or threading.Event()).wait(seconds)
    finally:
        prof = sampler.stop()
    return prof


__all__ = ["DEFAULT_HZ", "WallProfiler", "profile"]
