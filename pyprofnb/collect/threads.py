"""Python threads as Go's goroutines: live stacks, creation stacks, and the three views of
them that ``/debug/pprof/goroutine`` and ``threadcreate`` serve.

- `snapshot()` reads every thread's current stack (``sys._current_frames``) with its
  name, ident, native id and daemon flag (``threading.enumerate``), without creating
  ``_DummyThread`` objects for threads started outside ``threading``.
- `goroutine_profile()` is Go's goroutine profile: sample type ``goroutine/count``, one sample
  per distinct (stack, thread name), thread names as the ``thread`` label.
- `threadcreate_profile()` counts the threads created since this module was imported, by
  creation stack (a wrapper around ``threading.Thread.start`` records it).
- `format_thread_dump()` is the ``debug=2`` text: one block per thread, innermost frame first.

Frames are named as the CPU and heap engine names them: ``co_qualname``, file path, line
number and the function's first line.
"""
from __future__ import annotations

import collections
import dataclasses
import os
import sys
import threading
import time
import weakref

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the model (and NumPy) is imported when a profile is built, not before
    from ..model.profile import Profile
from . import aio
from . import _engine

_set_paused = _engine.set_paused if _engine is not None else (lambda flag: False)

# A frame as ProfileBuilder takes it: (function, file, line, start_line).
Frame = tuple


def code_frame(code, lineno) -> Frame:
    """The profile frame of a code object executing at ``lineno``."""
    return (code.co_qualname, code.co_filename, lineno or 0, code.co_firstlineno)


def frame_stack(frame, limit: int = 512) -> list[Frame]:
    """The stack of a Python frame object, innermost (leaf) first."""
    stack = []
    while frame is not None and len(stack) < limit:
        stack.append(code_frame(frame.f_code, frame.f_lineno))
        frame = frame.f_back
    return stack


@dataclasses.dataclass
class ThreadInfo:
    """One live thread and its current stack (leaf first)."""

    ident: int
    name: str
    native_id: int | None
    daemon: bool | None
    stack: list[Frame]
    created_by: tuple[int, Frame] | None = None  # (creator thread ident, frame that called start)


# ------------------------------------------------------------------ creation stacks

_created_lock = threading.Lock()
_created: collections.Counter = collections.Counter()  # creation stack -> threads created
# Thread -> (creator ident, start() caller); weak, so finished threads do not pile up.
_creator: "weakref.WeakKeyDictionary[threading.Thread, tuple[int, Frame]]" = weakref.WeakKeyDictionary()
_original_start = threading.Thread.start
# Threads alive before we started watching have no known creation stack; like Go's main
# thread record they get one pseudo frame, so the count text stays parseable by pprof.
_BEFORE = ("<thread created before pyprofnb watched>", "", 0, 0)


_start_listeners: list = []  # called with each Thread once it runs (native_id known)


def _after_fork_in_child() -> None:
    """A fork child runs only the thread that forked: a lock another thread held at that
    instant (inside Thread.start) would stay held, and the child's first Thread.start hang."""
    global _created_lock
    _created_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def add_start_listener(fn) -> None:
    """Call ``fn(thread)`` after each ``Thread.start`` (the CPU profiler learns names of
    threads too short-lived to be seen alive)."""
    _start_listeners.append(fn)


def remove_start_listener(fn) -> None:
    try:
        _start_listeners.remove(fn)
    except ValueError:
        pass


def _recording_start(self, *args, **kwargs):
    # The recording is pyprofnb's work, not the caller's: no sample of it (set_paused
    # allocates nothing, unlike a with-statement).
    previous = _set_paused(True)
    try:
        caller = sys._getframe(1)
        stack = tuple(frame_stack(caller, limit=64))
        with _created_lock:
            _created[stack] += 1
            _creator[self] = (threading.get_ident(), stack[0] if stack else _BEFORE)
    finally:
        _set_paused(previous)
    result = _original_start(self, *args, **kwargs)
    if _start_listeners:
        previous = _set_paused(True)
        try:
            for fn in list(_start_listeners):
                fn(self)
        finally:
            _set_paused(previous)
    return result


# The wrapper's frame sits between the caller and Thread.start in every stack taken under
# it; the CPU and heap profiles leave it out, as if the caller had called start() directly.
SHIM_CODE = _recording_start.__code__
SHIM_FILE_AND_NAME = (SHIM_CODE.co_filename, SHIM_CODE.co_qualname)


def _install_start_hook() -> None:
    if getattr(threading.Thread.start, "_pyprofnb", False):
        return
    _recording_start._pyprofnb = True
    with _created_lock:
        _created[(_BEFORE,)] += len(sys._current_frames())
    threading.Thread.start = _recording_start


_install_start_hook()


def threads_created() -> int:
    """Threads created since this module was imported (plus those alive then)."""
    with _created_lock:
        return sum(_created.values())


# ------------------------------------------------------------------ live threads

def snapshot(*, exclude: set[int] = frozenset()) -> list[ThreadInfo]:
    """Every thread's current stack, the calling thread first (as Go puts the goroutine
    serving the request first), then by ident."""
    frames = sys._current_frames()
    by_ident = {t.ident: t for t in threading.enumerate()}
    me = threading.get_ident()
    out = []
    for ident in sorted(frames, key=lambda i: (i != me, i)):
        if ident in exclude:
            continue
        thread = by_ident.get(ident)
        stack = frame_stack(frames[ident])
        out.append(ThreadInfo(
            ident=ident,
            name=thread.name if thread is not None else f"<no threading.Thread {ident:#x}>",
            native_id=getattr(thread, "native_id", None),
            daemon=thread.daemon if thread is not None else None,
            stack=stack,
            created_by=_creator.get(thread) if thread is not None else None,
        ))
    del frames
    return out


def thread_count() -> int:
    """Threads and live asyncio tasks: Python's goroutines."""
    return len(sys._current_frames()) + len(aio.snapshot())


def goroutine_profile(threads: list[ThreadInfo] | None = None, *, with_labels: bool = True,
                      tasks: "list[aio.TaskInfo] | None" = None) -> Profile:
    """Go's goroutine profile for Python threads and asyncio tasks: ``goroutine/count``,
    period 1, one sample per distinct stack (a task's stack is its await chain), with the
    ``thread`` and ``task`` labels when ``with_labels``."""
    threads = snapshot() if threads is None else threads
    tasks = aio.snapshot() if tasks is None else tasks
    names = {t.ident: t.name for t in threads}
    counts: collections.Counter = collections.Counter()
    for t in threads:
        counts[(tuple(t.stack), (("thread", t.name),) if with_labels else ())] += 1
    for task in tasks:
        labels = (("thread", names.get(task.thread, "")), ("task", task.name)) if with_labels else ()
        counts[(tuple(task.stack), labels)] += 1
    from ..model.profile import ProfileBuilder
    b = ProfileBuilder([("goroutine", "count")], period_type=("goroutine", "count"), period=1)
    for (stack, labels), n in counts.items():
        b.add(stack, [n], labels=dict(labels) or None)
    return b.build(time_nanos=time.time_ns())


def threadcreate_profile() -> Profile:
    """Threads created, by the stack that called ``Thread.start`` (``threadcreate/count``)."""
    with _created_lock:
        items = list(_created.items())
    from ..model.profile import ProfileBuilder
    b = ProfileBuilder([("threadcreate", "count")], period_type=("threadcreate", "count"), period=1)
    for stack, n in items:
        b.add(stack, [n])
    return b.build(time_nanos=time.time_ns())


# ------------------------------------------------------------------ debug=2

_STATES = {"R": "running", "S": "sleeping", "D": "disk wait", "T": "stopped", "t": "tracing stop", "Z": "zombie"}


def os_state(native_id: int | None) -> str:
    """The kernel's view of a thread (Linux /proc): state and, when readable, wait channel."""
    if not native_id:
        return ""
    base = f"/proc/self/task/{native_id}"
    try:
        with open(f"{base}/stat") as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""
    text = _STATES.get(state, state)
    try:
        with open(f"{base}/wchan") as fh:
            wchan = fh.read().strip()
        if wchan and wchan != "0":
            text += f", {wchan}"
    except OSError:
        pass
    return text


def format_thread_dump(threads: list[ThreadInfo] | None = None,
                       tasks: "list[aio.TaskInfo] | None" = None) -> str:
    """The ``goroutine?debug=2`` text for Python threads, Go's panic-dump layout::

        thread 140234 "MainThread" native_id=4242 daemon=False [sleeping, do_select]:
        socketserver.BaseServer.serve_forever()
        	/usr/lib/python3.11/socketserver.py:233
        created by main in thread 140230
        	/srv/app.py:12

    The calling thread comes first and its state is ``running``; the others show the
    kernel's state and wait channel of their native thread. asyncio tasks follow, each with
    its await chain, innermost first, and what it awaits::

        task "fetch-prices" in thread 140234 "MainThread" [awaiting <Future pending ...>]:
        fetch_prices(...)
        	/srv/app.py:30
    """
    threads = snapshot() if threads is None else threads
    tasks = aio.snapshot() if tasks is None else tasks
    me = threading.get_ident()
    blocks = []
    for t in threads:
        state = "running" if t.ident == me else (os_state(t.native_id) or "unknown")
        lines = [f'thread {t.ident} "{t.name}" native_id={t.native_id} daemon={t.daemon} [{state}]:']
        for name, filename, line, _start in t.stack:
            lines.append(f"{name}(...)")
            lines.append(f"\t{filename}:{line}")
        if t.created_by is not None:
            creator, (name, filename, line, _start) = t.created_by
            lines.append(f"created by {name} in thread {creator}")
            lines.append(f"\t{filename}:{line}")
        blocks.append("\n".join(lines) + "\n")
    names = {t.ident: t.name for t in threads}
    for task in tasks:
        state = "running" if task.running else (task.waiting_on or "awaiting")
        where = f' in thread {task.thread} "{names.get(task.thread, "")}"' if task.thread is not None else ""
        lines = [f'task "{task.name}"{where} [{state}]:']
        for name, filename, line, _start in task.stack:
            lines.append(f"{name}(...)")
            lines.append(f"\t{filename}:{line}")
        blocks.append("\n".join(lines) + "\n")
    return "\n".join(blocks)


__all__ = [
    "ThreadInfo", "code_frame", "format_thread_dump", "frame_stack", "goroutine_profile",
    "os_state", "snapshot", "thread_count", "threadcreate_profile", "threads_created",
]
