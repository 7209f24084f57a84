"""A wall-clock profile of every thread: a pure-Python sampler over ``sys._current_frames``.

Unlike the CPU profile, a thread blocked in I/O, a lock or ``time.sleep`` is sampled too, so
this answers latency questions ("where do requests wait?"). Each tick adds the real time
elapsed since the previous tick to every thread's current stack.

asyncio: a thread running an event loop is sampled with the ``task`` its loop is running
(``task_state=running``), and every task that is awaiting adds a sample of its own: its await
chain, innermost first, labelled ``task`` and ``task_state=awaiting`` (so "where does each
task wait?" is ``-tagfocus=task_state=awaiting``; ``-tagignore=task_state=awaiting`` leaves
the threads' time alone, which the tasks' time is in addition to).

Profile: sample types ``samples/count`` and ``wall/nanoseconds``, period_type
``wall/nanoseconds``, period 1e9/hz, string labels ``thread`` (name) and ``thread_id``,
and ``task``, ``task_state`` as above.

>>> prof = wall.profile(5)            # blocks for 5 s
>>> with WallProfiler() as w: work()  # or around a block of code
>>> w.profile
"""
from __future__ import annotations

import collections
import sys
import threading
import time

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the model (and NumPy) is imported when a profile is built, not before
    from ..model.profile import Profile
from . import check_hz
from . import aio
from .threads import code_frame

DEFAULT_HZ = 100


class WallProfiler:
    """Samples all threads' stacks ``hz`` times a second on a daemon thread until `stop`."""

    def __init__(self, hz: int = DEFAULT_HZ):
        self.hz = check_hz(hz)
        self.profile: Profile | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # (thread ident, task name or None, awaiting?, ((code, line), ...)) -> [samples, nanoseconds]
        self._counts: dict = collections.defaultdict(lambda: [0, 0])
        self._tasks_skipped = 0
        self._names: dict[int, str] = {}
        self._start_ns = self._end_ns = 0

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
            running = aio.current_tasks()
            for ident, frame in sys._current_frames().items():
                if ident == me:
                    continue
                stack = []
                while frame is not None:
                    stack.append((frame.f_code, frame.f_lineno))
                    frame = frame.f_back
                task = running.get(ident)
                cell = counts[(ident, task.get_name() if task is not None else None, False, tuple(stack))]
                cell[0] += 1
                cell[1] += elapsed
            frame = task = running = None
            # asyncio tasks that are awaiting: where each one waits, as its own sample.
            chains, skipped = aio.raw_chains(aio.MAX_WALL_TASKS)
            self._tasks_skipped = max(self._tasks_skipped, skipped)
            for ident, name, chain in chains:
                cell = counts[(ident, name, True, chain)]
                cell[0] += 1
                cell[1] += elapsed

    def stop(self) -> Profile:
        self._end_ns = time.time_ns()
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.profile = self._build()
        return self.profile

    def _build(self) -> Profile:
        from ..model.profile import ProfileBuilder
        b = ProfileBuilder(
            [("samples", "count"), ("wall", "nanoseconds")],
            period_type=("wall", "nanoseconds"), period=1_000_000_000 // self.hz,
        )
        frames: dict = {}
        for (ident, task, awaiting, stack), (n, ns) in self._counts.items():
            resolved = [frames.get(key) or frames.setdefault(key, code_frame(*key)) for key in stack]
            name = self._names.get(ident, f"<no threading.Thread {ident:#x}>")
            labels = {"thread": name, "thread_id": str(ident)}
            if task is not None:
                labels["task"] = task
                labels["task_state"] = "awaiting" if awaiting else "running"
            b.add(resolved, [n, ns], labels=labels)
        if self._tasks_skipped:
            b.comments.append(f"{self._tasks_skipped} awaiting asyncio tasks a tick beyond the first "
                              f"{aio.MAX_WALL_TASKS} were not sampled")
        return b.build(time_nanos=self._start_ns, duration_nanos=self._end_ns - self._start_ns)

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
