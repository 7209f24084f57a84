"""Type stub of pyprofnb.collect._engine, the native sampling engine (C sources in
pyprofnb/collect/engine/; engine.h lists them). The Python API users call is
pyprofnb.collect (cpu, heap, set_task, paused, require); these functions are its parts.

Thread context (for every sampler, readable from the SIGPROF handler):
  set_task(task_id) writes an integer into the calling thread's slot; the engine copies it
  into each CPU and heap sample taken on that thread (the ``task`` label; 0 = none).
  set_paused(flag) marks the calling thread's work as pyprofnb's own: no CPU or heap sample.
"""
from typing import Any

MAX_DEPTH: int  # frames kept per stack (deeper stacks are truncated, and marked so)
RING_SIZE: int  # captures the signal handler can queue before the aggregator empties it

# ---- thread context
def set_task(task_id: int, /) -> int:
    """Label this thread's samples with task_id (0..2**64-1; 0 clears). Returns the previous id."""
def get_task() -> int:
    """This thread's task id (0: none)."""
def set_paused(flag: bool, /) -> bool:
    """While set, this thread's CPU and allocations are not sampled. Returns the previous flag."""

# ---- CPU
def cpu_start(hz: int, per_thread: int = -1, /) -> None:
    """Arm the process CPU timer (and per-thread timers when per_thread is 1, or -1 on kernels
    before 6.4) at hz in 1..10000; start the native aggregator. RuntimeError when already
    running or SIGPROF has another handler; OSError from the kernel."""
def cpu_sync(exclude_tid: int = 0, /) -> int | None:
    """Check the SIGPROF handler (re-install if reset to default/ignore; RuntimeError if taken
    by another handler); per-thread timers for new threads. Number of timers created."""
def cpu_drain() -> list[tuple[int, int, int, int, bool, bool, tuple[tuple[Any, int], ...]]]:
    """Summed captures since the last drain: (tid, ident, task, weight, native, truncated,
    ((code object or None, line), ...) leaf first)."""
def cpu_stop_timers() -> None:
    """Disarm; wait for handlers; stop the aggregator; captures stay for the last drain."""
def cpu_release() -> None:
    """Delete the timers (after the last drain)."""
def cpu_stats() -> dict[str, Any]:
    """running, captures, thread_timer_captures, process_timer_captures, dropped_ring_full,
    dropped_table_full, collector_signals, native_thread_captures, unknown_frames,
    handler_reinstalls, superseded, timers, per_thread_timers, process_timer."""
def cpu_after_fork() -> None: ...

# ---- heap
def heap_start(rate: int, /) -> None:
    """Hook the PyMem OBJ and MEM domains; sample one allocation per rate bytes on average."""
def heap_stop() -> None:
    """Stop sampling; unhook where still on top of the chain (else pass through)."""
def heap_reset() -> None:
    """Forget every sample and tracked block."""
def heap_running() -> bool: ...
def heap_check() -> int:
    """Probe both domains; re-install hooks another tool removed. Number re-installed."""
def heap_numpy(array_api: object, /) -> tuple[bool, str]:
    """Sample NumPy's array buffers (NumPy's _ARRAY_API capsule): (installed, reason if not)."""
def heap_snapshot() -> list[tuple[int, int, int, tuple[tuple[str, str, int, int, str], ...],
                                  float, float, float, float]]:
    """(kind: 0 Python, 1 NumPy, -1 overflow; task; truncated; ((qualname, filename, line,
    firstlineno, name), ...) leaf first; alloc_objects, alloc_space, inuse_objects,
    inuse_space) unsampled."""
def heap_stats() -> dict[str, Any]:
    """rate, samples, live_samples, stacks, funcs, dead_funcs, dropped, overflowed,
    table_bytes, running, hooks_mem, hooks_obj, hooks_reinstalled, numpy, numpy_reason,
    numpy_without_gil."""
def heap_after_fork() -> None: ...
