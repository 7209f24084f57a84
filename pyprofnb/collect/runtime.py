"""The Python runtime's memory and GC statistics, for the ``# runtime.MemStats`` trailer of
``heap?debug=1``.

Go's trailer reports its allocator and collector. CPython has a different allocator
(pymalloc arenas over malloc) and a generational, reference-counting collector, so the
trailer keeps Go's layout (``# Name = value`` lines, ``# MaxRSS`` last) and Go's field names
only where the meaning is the same; every other field has a Python name. None of the figures
needs tracemalloc. Field by field (`FIELDS` holds the same text):

==================  ======================================================================
Alloc               bytes allocated and not yet freed, estimated by the heap sampler
                    (the heap profile's ``inuse_space`` total); 0 when it is not running
TotalAlloc          bytes allocated since the heap sampler started (``alloc_space`` total)
Sys                 virtual memory size of the process (VmSize, /proc/self/statm)
Mallocs             allocations since the heap sampler started (``alloc_objects`` total)
Frees               Mallocs minus the allocations still live (``inuse_objects`` total)
HeapObjects         live allocations estimated by the heap sampler (``inuse_objects``)
AllocatedBlocks     memory blocks the interpreter currently has allocated, all domains
                    (``sys.getallocatedblocks()``; exact, not sampled)
RSS                 resident set size now (VmRSS, /proc/self/statm)
HeapSampleRate      mean bytes between heap samples (Go's MemProfileRate)
Threads             live threads (``threading.active_count()``)
GCCount             objects counted towards the next collection of generations 0 / 1 / 2
                    (``gc.get_count()``)
GCThreshold         the thresholds that trigger those collections (``gc.get_threshold()``)
GCCollections       collections run per generation since start (``gc.get_stats()``)
GCCollected         objects collected per generation since start
GCUncollectable     uncollectable objects found per generation since start
GCFrozen            objects moved to the permanent generation (``gc.get_freeze_count()``)
LastGC              end of the last collection seen, Unix nanoseconds (0 if none seen)
PauseTotalNs        total time spent in the collections seen
PauseNs             the last 256 collection pauses in nanoseconds, a circular buffer with
                    the most recent at [(NumGC+255)%256], as Go's
PauseEnd            when each of those pauses ended, Unix nanoseconds
NumGC               collections seen; pauses are timed with ``gc.callbacks`` from the
                    moment this module is imported, so NumGC can be below the sum of
                    GCCollections
NumForcedGC         collections forced through the endpoints (``heap?gc=1``)
GCCPUFraction       fraction of wall time since this module was imported spent in
                    collections (Go's is CPU time; a CPython collection holds the GIL,
                    so its pause is the time taken from the program)
DebugGC             whether ``gc.set_debug`` flags are set
GCEnabled           whether automatic collection is enabled (``gc.isenabled()``)
MaxRSS              peak resident set size in bytes (``resource.getrusage().ru_maxrss``)
==================  ======================================================================
"""
from __future__ import annotations

import gc
import os
import resource
import sys
import threading
import time

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_RING = 256

def _field_docs(doc: str) -> dict[str, str]:
    """The docstring's table as {field: description} (one source of truth for both)."""
    fields: dict[str, str] = {}
    table = doc.split("\n==")[1:-1]  # between the table's first and last border lines
    for line in "\n".join(table).splitlines():
        if line[:1].isalpha():
            name, text = line.split(None, 1)
            fields[name] = text.strip()
        elif line.strip() and not line.startswith("=") and fields:
            last = next(reversed(fields))
            fields[last] += " " + line.strip()
    return fields


FIELDS = _field_docs(__doc__)


class _GCTimer:
    """Times every collection through ``gc.callbacks`` (start/stop phases)."""

    def __init__(self):
        self.pause_ns = [0] * _RING
        self.pause_end = [0] * _RING
        self.num_gc = 0
        self.total_ns = 0
        self.last_end = 0
        self.forced = 0
        self.since = time.perf_counter_ns()
        self._t0 = 0

    def __call__(self, phase, info):
        if phase == "start":
            self._t0 = time.perf_counter_ns()
        elif self._t0:
            pause = time.perf_counter_ns() - self._t0
            self._t0 = 0
            end = time.time_ns()
            slot = self.num_gc % _RING
            self.pause_ns[slot] = pause
            self.pause_end[slot] = end
            self.num_gc += 1
            self.total_ns += pause
            self.last_end = end


_timer = _GCTimer()
if not any(isinstance(cb, _GCTimer) for cb in gc.callbacks):
    gc.callbacks.append(_timer)
_lock = threading.Lock()


def collect() -> None:
    """``gc.collect()``, counted as a forced collection (Go's ``runtime.GC()`` for ``gc=1``)."""
    with _lock:
        _timer.forced += 1
    gc.collect()


def _statm() -> tuple[int, int]:
    try:
        with open("/proc/self/statm") as fh:
            size, resident = fh.read().split()[:2]
        return int(size) * _PAGE, int(resident) * _PAGE
    except (OSError, ValueError):
        return 0, 0


def _heap_totals() -> tuple[dict, int]:
    try:
        from . import heap
    except ImportError:
        return {}, 0
    try:
        if not heap.running():
            return {}, 0
        prof = heap.profile()
    except Exception:  # a failing sampler must not take the stats page down with it
        return {}, 0
    return prof.totals(), prof.period


def memstats(heap_profile=None) -> list[tuple[str, str]]:
    """The trailer's fields in order, as (name, text) pairs; see the module docstring.
    The heap figures come from ``heap_profile`` when given (saves a second snapshot)."""
    if heap_profile is not None:
        totals, rate = heap_profile.totals(), heap_profile.period
    else:
        totals, rate = _heap_totals()
    vsize, rss = _statm()
    stats = gc.get_stats()
    t = _timer

    def gens(key):
        return " / ".join(str(s[key]) for s in stats)

    alloc_objects = totals.get("alloc_objects", 0)
    inuse_objects = totals.get("inuse_objects", 0)
    # A circular buffer is printed as it lies in memory, like Go's PauseNs.
    fields = [
        ("Alloc", totals.get("inuse_space", 0)),
        ("TotalAlloc", totals.get("alloc_space", 0)),
        ("Sys", vsize),
        ("Mallocs", alloc_objects),
        ("Frees", alloc_objects - inuse_objects),
        ("HeapObjects", inuse_objects),
        ("AllocatedBlocks", sys.getallocatedblocks()),
        ("RSS", rss),
        ("HeapSampleRate", rate),
        ("Threads", threading.active_count()),
        ("GCCount", " / ".join(map(str, gc.get_count()))),
        ("GCThreshold", " / ".join(map(str, gc.get_threshold()))),
        ("GCCollections", gens("collections")),
        ("GCCollected", gens("collected")),
        ("GCUncollectable", gens("uncollectable")),
        ("GCFrozen", gc.get_freeze_count()),
        ("LastGC", t.last_end),
        ("PauseTotalNs", t.total_ns),
        ("PauseNs", "[" + " ".join(map(str, t.pause_ns)) + "]"),
        ("PauseEnd", "[" + " ".join(map(str, t.pause_end)) + "]"),
        ("NumGC", t.num_gc),
        ("NumForcedGC", t.forced),
        ("GCCPUFraction", repr(t.total_ns / max(1, time.perf_counter_ns() - t.since))),
        ("DebugGC", "true" if gc.get_debug() else "false"),
        ("GCEnabled", "true" if gc.isenabled() else "false"),
        ("MaxRSS", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024),
    ]
    return [(name, str(value)) for name, value in fields]


__all__ = ["FIELDS", "collect", "memstats"]
