"""The native CPU profiler against known truths: short bursts, CPU magnitude, idle threads.

Workloads that could crash the interpreter, or that need a quiet process, run in a fresh
subprocess that prints its measurements as JSON. All timing uses CPU clocks, so a busy CI
machine slows the tests but does not change their answers.
"""
import json
import os
import subprocess
import sys
import textwrap

import pytest

from pyprofnb.collect import cpu
from pyprofnb.errors import ProfilingError, ProfilingInUseError

pytestmark = pytest.mark.skipif(not cpu.available(), reason=f"native engine: {cpu.UNAVAILABLE_REASON if hasattr(cpu, 'UNAVAILABLE_REASON') else ''}")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_script(prelude: str, body: str, timeout: float = 90) -> dict:
    """Run ``prelude`` + ``body`` in a new interpreter; it must print one JSON object last."""
    code = prelude + textwrap.dedent(body)
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


# Helpers shared by the subprocess scripts: spin on the thread's own CPU clock, so the CPU
# spent is exact whatever the machine's load; summarise a profile by leaf function and thread.
PRELUDE = """
import json, threading, time
from pyprofnb.collect import cpu

def spin(seconds):
    deadline = time.thread_time() + seconds
    x = 0
    while time.thread_time() < deadline:
        x += 1

def leaf_totals(prof):
    fr = prof.frames()
    leaf = fr.depth == 0
    out = {}
    for s, f in zip(fr.sample[leaf], fr.func[leaf]):
        name = prof.func_name[f]
        out[name] = out.get(name, 0) + int(prof.values[s, 1])
    return out

def thread_totals(prof):
    out = {}
    for s, k, v in zip(prof.label_sample, prof.label_key, prof.label_str):
        if k == "thread":
            out[v] = out.get(v, 0) + int(prof.values[s, 1])
    return out
"""


def test_api_and_profile_shape():
    assert not cpu.running()
    with pytest.raises(ProfilingError):
        cpu.stop()
    cpu.start(hz=200)
    try:
        assert cpu.running()
        with pytest.raises(ProfilingInUseError, match="cpu profiling already in use"):
            cpu.start()
        import time

        deadline = time.thread_time() + 0.1
        while time.thread_time() < deadline:
            pass
    finally:
        prof = cpu.stop()
    assert not cpu.running()
    prof.validate()
    assert [str(t) for t in prof.sample_types] == ["samples/count", "cpu/nanoseconds"]
    assert str(prof.period_type) == "cpu/nanoseconds"
    assert prof.period == 5_000_000
    assert prof.time_nanos > 0 and prof.duration_nanos > 0
    assert prof.n_samples > 0
    keys = set(prof.label_key)
    assert {"thread", "thread_id"} <= keys
    assert "test_api_and_profile_shape" in set(prof.func_name)
    # the context manager and bad rates
    with cpu.CPUProfiler(hz=100) as p:
        pass
    assert p.profile is not None and p.profile.period == 10_000_000
    with pytest.raises(ProfilingError, match="hz"):
        cpu.start(hz=0)
    assert cpu.stats()["timers"] == 0  # all deleted at stop


def test_profile_with_stop_event():
    import threading

    ev = threading.Event()
    ev.set()
    prof = cpu.profile(30, stop_event=ev)  # returns at once
    assert prof.duration_nanos < 5 * 10**9


def test_short_bursts_are_charged_to_the_computing_function():
    # 3 ms of CPU in compute(), then 3 ms asleep in waiter(): a GIL-yield-point sampler puts
    # ~0% on compute; CPU timers put nearly everything there (each sample is one period of
    # that thread's CPU). 150 bursts give ~45 samples.
    out = run_script(PRELUDE, """
    def compute():
        deadline = time.thread_time() + 0.003
        x = 0
        while time.thread_time() < deadline:
            x += 1
    def waiter():
        time.sleep(0.003)
    def loop():
        for _ in range(150):
            compute()
            waiter()
    cpu.start()
    t = threading.Thread(target=loop, name="burst")
    t.start(); t.join()
    prof = cpu.stop()
    print(json.dumps({"leaf": leaf_totals(prof), "threads": thread_totals(prof)}))
    """)
    leaf = out["leaf"]
    total = sum(leaf.values())
    assert total > 0
    share = leaf.get("compute", 0) / total
    print("burst: compute share", share, leaf)
    assert share >= 0.85, leaf
    assert set(out["threads"]) == {"burst"}


@pytest.mark.parametrize("n_busy", [1, 4])
def test_magnitude_matches_process_cpu_and_idle_threads_get_nothing(n_busy):
    out = run_script(PRELUDE, f"""
    stop_idle = threading.Event()
    idle = [threading.Thread(target=stop_idle.wait, name=f"idle-{{i}}") for i in range(3)]
    for t in idle: t.start()
    def busy():
        spin(1.0)  # long enough that the drain thread and thread start-up are small beside it
    busy_threads = [threading.Thread(target=busy, name=f"busy-{{i}}") for i in range({n_busy})]
    # The window is the profiled stretch only: what start() and stop() themselves cost
    # (arming timers, building the Profile) is not the workload's CPU.
    cpu.start()
    c0 = time.process_time()
    for t in busy_threads: t.start()
    for t in busy_threads: t.join()
    used = time.process_time() - c0
    prof = cpu.stop()
    stop_idle.set()
    for t in idle: t.join()
    print(json.dumps({{"profile_ns": int(prof.values[:, 1].sum()), "process_ns": int(used * 1e9),
                      "threads": thread_totals(prof), "stats": cpu.stats()}}))
    """)
    ratio = out["profile_ns"] / out["process_ns"]
    print(f"magnitude {n_busy} busy: profile/process = {ratio:.3f}", out["threads"])
    assert 0.9 <= ratio <= 1.1, out
    assert not any(name.startswith("idle-") for name in out["threads"]), out["threads"]
    for i in range(n_busy):
        # each busy thread spent 1 s of CPU
        assert 0.8e9 <= out["threads"].get(f"busy-{i}", 0) <= 1.2e9, out["threads"]


@pytest.mark.parametrize("per_thread", [False, True])
def test_threads_started_later_are_counted_and_exited_ones_lose_their_timers(per_thread):
    # Default (Linux >= 6.4): the process timer alone. per_thread=True is the fallback for
    # older kernels: a timer per thread beside setitimer; exercised here all the same.
    out = run_script(PRELUDE, f"""
    cpu._PER_THREAD = {per_thread}
    cpu.start()
    time.sleep(0.05)
    before = cpu.stats()["timers"]
    ts = [threading.Thread(target=spin, args=(0.3,), name=f"late-{{i}}") for i in range(3)]
    for t in ts: t.start()
    time.sleep(0.05)
    during = cpu.stats()["timers"]
    for t in ts: t.join()
    time.sleep(0.1)
    after = cpu.stats()["timers"]
    prof = cpu.stop()
    print(json.dumps({{"before": before, "during": during, "after": after, "threads": thread_totals(prof),
                      "stats": cpu.stats()}}))
    """)
    if per_thread:
        assert out["before"] == 1  # the main thread (the drain thread is not profiled)
        assert out["after"] == 1
    else:
        assert out["before"] == out["during"] == out["after"] == 0
    assert out["stats"]["per_thread_timers"] is per_thread
    late = [out["threads"].get(f"late-{i}", 0) / 1e7 for i in range(3)]  # in 10 ms samples
    # The process spent 90 periods in them: the expiries are counted exactly; which of the
    # three running threads each one lands on is a draw (binomial, p = 1/3, 4.5 sd).
    assert 0.85 * 90 <= sum(late) <= 1.15 * 90, out["threads"]
    for n in late:
        assert abs(n - 30) <= 4.5 * (90 * (1 / 3) * (2 / 3)) ** 0.5, out["threads"]


def test_thread_names_right_when_idents_are_reused():
    # One thread after another: the second usually gets the first one's ident (pthread_t)
    # back. Each must keep its own name (the engine tells threads apart by kernel tid).
    out = run_script(PRELUDE, """
    def first_work():
        spin(0.15)
    def second_work():
        spin(0.15)
    cpu.start(200)
    a = threading.Thread(target=first_work, name="first"); a.start(); a.join()
    b = threading.Thread(target=second_work, name="second"); b.start(); b.join()
    prof = cpu.stop()
    names = {}
    fr = prof.frames()
    thread_of = {s: v for s, k, v in zip(prof.label_sample, prof.label_key, prof.label_str) if k == "thread"}
    for s in range(prof.n_samples):
        funcs = {prof.func_name[f] for f in fr.func[fr.offsets[s]:fr.offsets[s + 1]]}
        for fn in funcs & {"first_work", "second_work"}:
            names.setdefault(fn, set()).add(thread_of.get(s))
    print(json.dumps({"same_ident": a.ident == b.ident,
                      "names": {k: sorted(v) for k, v in names.items()}}))
    """)
    print("ident reused:", out["same_ident"])
    assert out["names"] == {"first_work": ["first"], "second_work": ["second"]}, out


def test_fork_child_starts_clean():
    out = run_script(PRELUDE, """
    import os
    cpu.start()
    spin(0.05)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            ok = not cpu.running()
            cpu.start()
            spin(0.1)
            p = cpu.stop()
            msg = json.dumps({"ok": ok, "ns": int(p.values[:, 1].sum())})
        except BaseException as e:
            msg = json.dumps({"error": repr(e)})
        os.write(w, msg.encode())
        os._exit(0)
    os.close(w)
    spin(0.1)
    _, status = os.waitpid(pid, 0)
    child = json.loads(os.read(r, 10000).decode())
    prof = cpu.stop()
    print(json.dumps({"child": child, "status": status, "parent_ns": int(prof.values[:, 1].sum())}))
    """)
    assert out["status"] == 0
    assert out["child"].get("ok") is True, out
    assert 0.07e9 <= out["child"]["ns"] <= 0.14e9
    assert out["parent_ns"] >= 0.1e9


def test_profile_encodes_to_pprof():
    from pyprofnb.codec import proto as fmt
    import time

    with cpu.CPUProfiler() as p:
        deadline = time.thread_time() + 0.05
        while time.thread_time() < deadline:
            pass
    data = fmt.encode(p.profile)
    assert data[:2] == b"\x1f\x8b"
    back = fmt.decode(data)
    assert back.total("cpu") == p.profile.total("cpu")
    assert set(back.func_name) == set(p.profile.func_name)


def test_without_the_extension_cpu_falls_back_and_heap_explains():
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent("""
        import sys
        sys.modules["pyprofnb.collect._engine"] = None  # as if it had not been built
        from pyprofnb.collect import cpu, heap
        from pyprofnb.errors import ProfilingError
        assert cpu.available() and cpu.mode() == "fallback", cpu.mode()
        assert not heap.available()
        assert "not built" in cpu.UNAVAILABLE_REASON, cpu.UNAVAILABLE_REASON
        try:
            heap.start()
        except ProfilingError as e:
            assert "not built" in str(e), e
        else:
            raise SystemExit("heap.start() did not raise")
        cpu.start()
        prof = cpu.stop()
        assert any("approximate" in c for c in prof.comments), prof.comments
        print("ok")
        """)],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr
