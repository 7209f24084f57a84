"""asyncio tasks as goroutines: which task a thread is running, where each task is awaiting.

- `install()` hooks the event loop's callback runner (``asyncio.events.Handle._run``) so
  that each step of a task runs with the engine's per-thread task slot set
  (`pyprofnb.collect.set_task`): every CPU and heap sample taken during the step carries
  the task's name as the ``task`` label, so ``-tagfocus=task=fetch-prices`` works. It is
  one patch for every loop and every task, whoever created it (no task factory to
  install, none to displace). Cost: an attribute and a type test per loop callback, a dict
  look-up and two C calls per task step (benchmarks/bench_asyncio.py measures it). A task
  renamed with ``set_name`` is labelled by its new name from its next step on. uvloop runs callbacks in its
  own code, so under uvloop CPU samples get no task label (wall and goroutine still do).
- `snapshot()` lists the live tasks of every loop in the process with their await chains,
  from any thread: what the ``goroutine`` endpoint prints next to the threads, and what
  the wall-clock sampler samples.
- `current_tasks()` maps a thread to the task its loop is running now.

A task's await chain is read from its coroutine: ``cr_frame`` for where it stands, then
``cr_await`` down to the innermost awaited coroutine; what that awaits (usually a Future)
is described by the task's ``_fut_waiter``.

>>> from pyprofnb.collect import aio
>>> aio.install()
"""
from __future__ import annotations

import asyncio
import asyncio.events
import asyncio.tasks
import dataclasses
import itertools
import sys
import threading
import weakref

from . import _engine, set_task

_set_slot = _engine.set_task if _engine is not None else (lambda task_id: 0)

# A frame as ProfileBuilder takes it: (function, file, line, start_line).
Frame = tuple

MAX_TASKS = 10_000  # tasks listed per snapshot; a process with more is summarized
MAX_WALL_TASKS = 1_000  # awaiting tasks the wall-clock sampler walks per tick
_MAX_DEPTH = 256

_TASK_TYPES = tuple({asyncio.Task, asyncio.tasks._PyTask} if hasattr(asyncio.tasks, "_PyTask") else {asyncio.Task})

# ------------------------------------------------------------------ the task-step hook

# id(task) -> [serial, name], for live tasks only (a done callback forgets it): a serial is
# never reused, as an id() would be by the next task, so a finished task's samples keep its name.
_serial_of: dict[int, list] = {}
_next_serial = itertools.count(1)
_original_run = asyncio.events.Handle._run
# Loops whose tasks the hook has run: from 3.14 on, native tasks live in per-thread lists that
# only asyncio.all_tasks(loop) / current_task(loop) read, so listing them needs the loops.
_loops_seen: "weakref.WeakSet" = weakref.WeakSet()


def _forget(task) -> None:
    _serial_of.pop(id(task), None)


def _run_labelled(self):
    task = getattr(self._callback, "__self__", None)
    if not isinstance(task, _TASK_TYPES):
        return _original_run(self)
    entry = _serial_of.get(id(task))
    name = task.get_name()
    if entry is None:
        entry = _serial_of[id(task)] = [next(_next_serial), name]
        _loops_seen.add(task.get_loop())
        task.add_done_callback(_forget)
        previous = set_task(entry[0], name)  # registers the name shown in the label
    elif entry[1] is not name:  # renamed (set_name): the label follows
        entry[1] = name
        previous = set_task(entry[0], name)
    else:
        previous = _set_slot(entry[0])
    try:
        return _original_run(self)
    finally:
        _set_slot(previous)


_run_labelled._pyprofnb = True


def install() -> None:
    """Label CPU and heap samples with the running task's name (idempotent; nothing to do
    where the native engine is not there)."""
    if _engine is not None and not getattr(asyncio.events.Handle._run, "_pyprofnb", False):
        asyncio.events.Handle._run = _run_labelled


def uninstall() -> None:
    if getattr(asyncio.events.Handle._run, "_pyprofnb", False):
        asyncio.events.Handle._run = _original_run


def installed() -> bool:
    return getattr(asyncio.events.Handle._run, "_pyprofnb", False)


# ------------------------------------------------------------------ tasks and their await chains

@dataclasses.dataclass
class TaskInfo:
    """One live task: its name, the thread its loop runs on, and where it stands."""

    name: str
    thread: int | None  # ident of the thread running its loop, if known
    running: bool  # it is the task its loop is running right now
    stack: list[Frame]  # the await chain, innermost first
    waiting_on: str  # what the innermost coroutine awaits ("" if running or unknown)
    coro: str  # the task's coroutine's qualified name


def _copy(registry) -> list:
    # A registry is a WeakSet/set another thread may be changing: copy, retrying as asyncio does.
    for _ in range(1000):
        try:
            return list(registry)
        except RuntimeError:
            continue
    return []


def _known_loops() -> list:
    loops = list(_loops_seen)
    loops.extend(getattr(asyncio.tasks, "_current_tasks", {}).keys())
    return loops


def _all_tasks() -> list:
    """Every task the process knows of. Where they are registered moved between versions:
    ``_all_tasks`` (3.11), ``_scheduled_tasks`` + ``_eager_tasks`` (3.12+), and native tasks
    from 3.14 on only in per-thread lists that ``asyncio.all_tasks(loop)`` reads."""
    found: dict[int, object] = {}
    for name in ("_all_tasks", "_scheduled_tasks", "_eager_tasks"):
        registry = getattr(asyncio.tasks, name, None)
        if registry is not None:
            for task in _copy(registry):
                found[id(task)] = task
    if sys.version_info >= (3, 14):
        for loop in _known_loops():
            try:
                for task in asyncio.all_tasks(loop):
                    found[id(task)] = task
            except Exception:  # a loop closing under us: its tasks are gone anyway
                continue
    return list(found.values())


def _loop_thread(loop) -> int | None:
    ident = getattr(loop, "_thread_id", None)
    return ident if isinstance(ident, int) else None


def current_tasks() -> dict[int, object]:
    """{thread ident: the task its event loop is running now}, for loops that are running one."""
    out = {}
    current = getattr(asyncio.tasks, "_current_tasks", None)
    if current is not None and sys.version_info < (3, 14):
        pairs = list(current.items())
    else:  # 3.14+: the running task is kept in the thread state, read through the loop
        pairs = []
        for loop in _known_loops():
            try:
                task = asyncio.current_task(loop)
            except Exception:
                continue
            if task is not None:
                pairs.append((loop, task))
    for loop, task in pairs:
        ident = _loop_thread(loop)
        if ident is not None:
            out[ident] = task
    return out


def await_chain(coro) -> tuple[list[Frame], object]:
    """(frames innermost first, the innermost awaited object that is no coroutine)."""
    frames = []
    awaited = None
    while coro is not None and len(frames) < _MAX_DEPTH:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None) or getattr(coro, "ag_frame", None)
        if frame is None:
            break
        code = frame.f_code
        frames.append((code.co_qualname, code.co_filename, frame.f_lineno or 0, code.co_firstlineno))
        nxt = getattr(coro, "cr_await", None)
        if nxt is None:
            nxt = getattr(coro, "gi_yieldfrom", None)
        if nxt is None or not (hasattr(nxt, "cr_frame") or hasattr(nxt, "gi_frame")):
            awaited = nxt
            break
        coro = nxt
    frames.reverse()
    return frames, awaited


def _describe_wait(task) -> str:
    waiter = getattr(task, "_fut_waiter", None)
    if waiter is None:
        return ""
    if isinstance(waiter, _TASK_TYPES):
        return f"awaiting task {waiter.get_name()!r}"
    text = repr(waiter)
    return "awaiting " + (text if len(text) <= 120 else text[:117] + "...")


def raw_chains(limit: int) -> tuple[list[tuple[int | None, str, tuple]], int]:
    """For the wall-clock sampler, cheaply: [(loop thread ident, task name, ((code, line), ...)
    innermost first)] of the tasks that are awaiting (not running), at most ``limit``; and
    how many more there were."""
    running = {id(t) for t in current_tasks().values()}
    out, skipped = [], 0
    for task in _all_tasks():
        try:
            if id(task) in running or task.done():
                continue
            if len(out) >= limit:
                skipped += 1
                continue
            coro = task.get_coro()
            chain = []
            while coro is not None and len(chain) < _MAX_DEPTH:
                frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
                if frame is None:
                    break
                chain.append((frame.f_code, frame.f_lineno))
                coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
            chain.reverse()
            out.append((_loop_thread(task.get_loop()), task.get_name(), tuple(chain)))
        except (AttributeError, RuntimeError, ValueError):
            continue
    return out, skipped


def _running_stack(coro, thread: int | None, frames: dict) -> list[Frame] | None:
    """A running task's stack: its thread's frames from the innermost up to the task's own
    coroutine frame (``cr_await`` is empty while a coroutine runs, so the chain alone would
    stop at its first frame)."""
    top = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
    frame = frames.get(thread)
    stack = []
    while frame is not None and len(stack) < _MAX_DEPTH:
        code = frame.f_code
        stack.append((code.co_qualname, code.co_filename, frame.f_lineno or 0, code.co_firstlineno))
        if frame is top:
            return stack
        frame = frame.f_back
    return None


def snapshot(limit: int = MAX_TASKS) -> list[TaskInfo]:
    """The live (not done) tasks of every event loop in the process, at most ``limit``."""
    running = {id(t) for t in current_tasks().values()}
    thread_frames = sys._current_frames() if running else {}
    out = []
    for task in _all_tasks():
        if len(out) >= limit:
            break
        try:
            if task.done():
                continue
            coro = task.get_coro()
            thread = _loop_thread(task.get_loop())
            stack = None
            if id(task) in running:
                stack = _running_stack(coro, thread, thread_frames)
            if stack is None:
                stack, _ = await_chain(coro)
            out.append(TaskInfo(
                name=task.get_name(),
                thread=thread,
                running=id(task) in running,
                stack=stack,
                waiting_on="" if id(task) in running else _describe_wait(task),
                coro=getattr(coro, "__qualname__", type(coro).__name__),
            ))
        except (AttributeError, RuntimeError, ValueError):
            continue  # a task finishing under our feet
    return out


__all__ = ["MAX_TASKS", "TaskInfo", "await_chain", "current_tasks", "install", "installed", "raw_chains", "snapshot",
           "uninstall"]
