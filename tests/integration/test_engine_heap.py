"""The native heap profiler against known allocations.

``b"x" * n`` makes exactly one OBJ-domain block of n + 33 bytes (the bytes header plus the
trailing NUL) at the line that runs it, which gives call sites whose truth is known. With
rate 1 the profile must be exact; at the default rate each site's unsampled total must be
within 4.5 standard deviations of the Horvitz-Thompson estimator (sd/total =
sqrt((1-p)/(N p)), p = 1-exp(-s/rate)), a false-alarm chance near 1e-5 per check.
"""
import json
import math
import os
import subprocess
import sys
import textwrap

import pytest

from pyprofnb.collect import heap
from pyprofnb.errors import ProfilingError, ProfilingInUseError

pytestmark = pytest.mark.skipif(not heap.available(), reason="native engine unavailable")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BYTES_OVERHEAD = 33  # sizeof(PyBytesObject) header + NUL on CPython 3.11 x86-64

PRELUDE = """
import json, threading, time
from pyprofnb.collect import heap

def make(n):
    return b"x" * n

def by_leaf(prof):
    # {leaf function: [alloc_objects, alloc_space, inuse_objects, inuse_space]}
    fr = prof.frames()
    leaf = fr.depth == 0
    out = {}
    for s, f in zip(fr.sample[leaf], fr.func[leaf]):
        row = out.setdefault(prof.func_name[f], [0, 0, 0, 0])
        for i in range(4):
            row[i] += int(prof.values[s, i])
    return out

def by_caller(prof, leaf_name):
    # {caller of leaf_name: values}, to tell apart call sites of make()
    fr = prof.frames()
    out = {}
    for s in range(prof.n_samples):
        lo, hi = fr.offsets[s], fr.offsets[s + 1]
        if hi - lo >= 2 and prof.func_name[fr.func[lo]] == leaf_name:
            row = out.setdefault(prof.func_name[fr.func[lo + 1]], [0, 0, 0, 0])
            for i in range(4):
                row[i] += int(prof.values[s, i])
    return out
"""


def run_script(body: str, timeout: float = 90) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", PRELUDE + textwrap.dedent(body)],
        capture_output=True, text=True, timeout=timeout, cwd=ROOT,
    )
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


def tolerance(n_allocs: int, size: int, rate: int, sigmas: float = 4.5) -> float:
    p = -math.expm1(-size / rate)
    return sigmas * size * math.sqrt(n_allocs * (1 - p) / p)


def test_api_and_profile_shape():
    assert not heap.running()
    heap.start(rate=4096)
    try:
        assert heap.running()
        with pytest.raises(ProfilingInUseError):
            heap.start()
        keep = [bytes(5000) for _ in range(200)]
        stats = heap.stats()
        assert stats["running"] and stats["rate"] == 4096 and stats["samples"] > 0
    finally:
        heap.stop()
    assert not heap.running()
    prof = heap.profile()
    prof.validate()
    assert [t.type for t in prof.sample_types] == ["alloc_objects", "alloc_space", "inuse_objects", "inuse_space"]
    assert [t.unit for t in prof.sample_types] == ["count", "bytes", "count", "bytes"]
    assert str(prof.period_type) == "space/bytes" and prof.period == 4096
    assert prof.n_samples > 0
    assert set(prof.label_key) == {"bytes"} and all(s is None for s in prof.label_str)
    assert prof.total("inuse_space") >= 0.5 * 200 * 5000
    heap.reset()
    assert heap.stats()["samples"] == 0 and heap.profile().n_samples == 0
    with heap.HeapProfiler(rate=1) as h:
        x = bytes(100)
    assert h.profile is not None and h.profile.period == 1 and h.profile.n_samples > 0
    with pytest.raises(ProfilingError, match="rate"):
        heap.start(rate=0)
    del keep, x


def test_rate_one_is_exact_for_kept_freed_and_realloc():
    out = run_script("""
    def keep_site(keep):
        for i in range(len(keep)):
            keep[i] = make(1000)
    def free_site():
        for i in range(3000):
            make(500)
    def grow(buf):
        for _ in range(50):
            buf.extend(b"y" * 0)  # no new bytes object of interest
            buf += bytes(100)
    keep = [None] * 2000
    buf = bytearray()
    heap.start(1)
    keep_site(keep)
    free_site()
    grow(buf)
    heap.stop()
    prof = heap.profile()
    callers = by_caller(prof, "make")
    print(json.dumps({"callers": callers, "leaf": by_leaf(prof), "buf_alloc": buf.__alloc__()}))
    """)
    kept, freed = out["callers"]["keep_site"], out["callers"]["free_site"]
    s1, s2 = 1000 + BYTES_OVERHEAD, 500 + BYTES_OVERHEAD
    assert kept == [2000, 2000 * s1, 2000, 2000 * s1]
    assert freed == [3000, 3000 * s2, 0, 0]
    # realloc: the bytearray's buffer grows 50 times at grow(); one block stays in use,
    # exactly as large as the bytearray says it allocated.
    grow_inuse = out["leaf"]["grow"]
    assert grow_inuse[3] == out["buf_alloc"]
    assert grow_inuse[2] == 1
    assert grow_inuse[0] > 1


def test_default_rate_estimates_within_poisson_tolerance():
    rate = 131072
    out = run_script("""
    def kept_site(keep):
        for i in range(len(keep)):
            keep[i] = make(4000)
    def churn_site():
        for i in range(200000):
            make(1000)
    def small_site():
        for i in range(500000):
            make(50)
    keep = [None] * 20000
    heap.start()
    kept_site(keep)
    churn_site()
    small_site()
    prof = heap.profile()
    heap.stop()
    print(json.dumps({"callers": by_caller(prof, "make"), "stats": heap.stats()}))
    """)
    c = out["callers"]
    cases = [("kept_site", 20000, 4000, True), ("churn_site", 200000, 1000, False), ("small_site", 500000, 50, False)]
    for site, n, payload, kept in cases:
        size = payload + BYTES_OVERHEAD
        truth = n * size
        row = c.get(site, [0, 0, 0, 0])
        tol = tolerance(n, size, rate)
        print(f"{site}: alloc_space {row[1]} vs {truth} ({(row[1] - truth) / truth:+.1%}, tol {tol / truth:.1%})")
        assert abs(row[1] - truth) <= tol, (site, row, truth, tol)
        assert abs(row[0] - n) <= tol / size, (site, row)
        if kept:
            assert abs(row[3] - truth) <= tol, (site, row)
        else:
            assert row[3] == 0 and row[2] == 0, (site, row)


def test_other_threads_and_thread_exit():
    out = run_script("""
    def worker_alloc(keep):
        for i in range(500):
            keep.append(make(2000))
    keep = []
    heap.start(1)
    ts = [threading.Thread(target=worker_alloc, args=(keep,)) for _ in range(4)]
    for t in ts: t.start()
    for t in ts: t.join()
    heap.stop()
    print(json.dumps({"callers": by_caller(heap.profile(), "make")}))
    """)
    row = out["callers"]["worker_alloc"]
    assert row[0] == 2000 and row[3] == 2000 * (2000 + BYTES_OVERHEAD)


def test_fork_child_starts_clean_and_parent_goes_on():
    out = run_script("""
    import os
    heap.start(1)
    keep = [make(1000) for _ in range(100)]
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        msg = {"running": heap.running(), "samples": heap.stats()["samples"]}
        heap.start(1)
        more = [make(1000) for _ in range(10)]
        heap.stop()
        msg["after"] = by_caller(heap.profile(), "make")
        os.write(w, json.dumps(msg).encode())
        os._exit(0)
    os.close(w)
    _, status = os.waitpid(pid, 0)
    child = json.loads(os.read(r, 100000).decode())
    keep2 = [make(1000) for _ in range(100)]
    heap.stop()
    print(json.dumps({"child": child, "status": status, "parent": by_leaf(heap.profile())}))
    """)
    assert out["status"] == 0
    child = out["child"]
    assert child["running"] is False and child["samples"] == 0
    assert list(child["after"].values())[0][0] == 10
    assert out["parent"]["make"][0] == 200
