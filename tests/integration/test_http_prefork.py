"""Pre-fork servers: real gunicorn with 4 workers (sync workers running the Flask demo app,
and uvicorn workers running the FastAPI one) under the real hey. Whichever worker a request
lands on answers for all of them."""
from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np
import pytest
import requests

from pyprofnb.codec.proto import decode
from servers import being_asked, cpu_seconds, hey, running, sockets, thread_cpu, wait_for_workers, wait_idle


def labels(prof, key: str) -> set[str]:
    """The values of a label (numeric ones as text, like the pid and worker labels)."""
    return {str(n) if v is None else v for k, v, n in zip(prof.label_key, prof.label_str, prof.label_num) if k == key}


def cpu_by_pid(prof) -> dict[str, int]:
    """Nanoseconds of CPU per ``pid`` label."""
    col = [t.type for t in prof.sample_types].index("cpu")
    out: dict[str, int] = {}
    for s, k, n in zip(prof.label_sample, prof.label_key, prof.label_num):
        if k == "pid":
            out[str(n)] = out.get(str(n), 0) + int(prof.values[s, col])
    return out


@pytest.mark.parametrize("kind", ["gunicorn", "gunicorn-uvicorn", "uvicorn-workers"])
def test_every_worker_in_every_answer(kind, tmp_path):
    with running(kind, tmp_path) as (master, url):
        pids = wait_for_workers(master.pid, 4)
        # Several requests land on several workers; each answer covers all four.
        for _ in range(4):
            prof = decode(requests.get(url + "/debug/pprof/goroutine", timeout=30).content)
            assert labels(prof, "pid") == {str(p) for p in pids}
            if kind == "gunicorn":  # gunicorn's worker numbers (its "age"), where known
                assert labels(prof, "worker") == {"1", "2", "3", "4"}
        heap = decode(requests.get(url + "/debug/pprof/heap", timeout=30).content)
        # Every worker answered (the comment counts answers); only workers holding a sampled
        # live allocation have samples to carry their pid (an idle worker may hold none).
        assert any("merged from 4 of 4 workers" in c for c in heap.comments)
        assert labels(heap, "pid") <= {str(p) for p in pids}
        one = decode(requests.get(url + f"/debug/pprof/allocs?pid={pids[2]}", timeout=30).content)
        assert labels(one, "pid") == {str(pids[2])}
        missing = requests.get(url + "/debug/pprof/heap?pid=1", timeout=30)
        assert missing.status_code == 404 and "no worker with pid 1" in missing.text
        text = requests.get(url + "/debug/pprof/goroutine?debug=2", timeout=30).text
        assert all(f"# pid {p}" in text for p in pids)
        counts = requests.get(url + "/debug/pprof/goroutine?debug=1", timeout=30).text
        assert counts.startswith("goroutine profile: total ")
        group = sockets(master.pid)
    # Stopped: the sockets went with their processes, and none was ever a file.
    assert group and not sockets(master.pid)
    assert not list(tmp_path.rglob("*pyprofnb*"))


def test_cpu_total_matches_the_workers_cpu_time(tmp_path, go_pprof):
    """The merged CPU profile holds each worker's CPU time. A 6 s profile starts; inside it,
    /proc gives the CPU time of each worker's threads, then hey runs 4 s of load, then /proc
    again while the profile is still running: the profile's total must be within 10% of
    the CPU the four workers' threads used between the two readings.

    Which threads: those the workers ran before the profile was asked for (the app's). The
    threads the request itself starts are left out: the engine's drain thread is not
    profiled by design (a few ms of CPU a second; next to the few tenths of a core each
    worker gets on a loaded 2-core machine that would be a bias of several percent), and
    the threads that pass the request between workers sleep. Reading /proc after the answer
    would also count what the profile cannot hold: building, encoding and merging it.
    CPU times are the scheduler's, in nanoseconds (schedstat), not 10 ms ticks."""
    with running("gunicorn", tmp_path) as (master, url):
        pids = wait_for_workers(master.pid, 4)
        # A first short profile under load gets every worker's imports out of the way.
        warm = hey(url + "/checksum", seconds=2, c=8)
        assert requests.get(url + "/debug/pprof/profile?seconds=1", timeout=60).status_code == 200
        warm.wait(60)
        wait_idle(pids)
        app_threads = {p: set(thread_cpu(p)) for p in pids}
        got = {}
        asking = threading.Thread(target=lambda: got.setdefault(
            "r", requests.get(url + "/debug/pprof/profile?seconds=6", timeout=60)))
        asking.start()
        time.sleep(0.4)
        before = {p: thread_cpu(p) for p in pids}
        process_before = {p: cpu_seconds(p) for p in pids}
        load = hey(url + "/checksum", seconds=4, c=8)
        load.wait(60)
        time.sleep(0.2)
        after = {p: thread_cpu(p) for p in pids}
        process_used = sum(cpu_seconds(p) - process_before[p] for p in pids)
        assert asking.is_alive(), "the profile ended before the second reading: the window is not inside it"
        asking.join()
        r = got["r"]
        assert r.status_code == 200, r.text
        path = tmp_path / "cpu.pb.gz"
        path.write_bytes(r.content)
        prof = decode(r.content)
        used = {p: sum(after[p].get(t, before[p].get(t, 0)) - before[p].get(t, 0) for t in app_threads[p])
                for p in pids}
        sampled = cpu_by_pid(prof)
        total = sum(sampled.values()) / 1e9
        print(f"the workers' app threads used {sum(used.values()):.2f} s of CPU (the whole processes "
              f"{process_used:.2f} s), the profile holds {total:.2f} s; per worker:",
              {p: (round(used[p], 2), sampled.get(str(p), 0) / 1e9) for p in pids})
        assert set(sampled) <= {str(p) for p in pids}
        # Every worker that served the load is in the profile (the gathering one may have slept).
        assert {str(p) for p in pids if used[p] > 0.1} <= set(sampled)
        # The load kept the workers busy (100 samples a CPU-second: the bound means something).
        assert sum(used.values()) > 0.5
        assert abs(total - sum(used.values())) <= 0.10 * sum(used.values())
        # go tool pprof reads the merged profile and filters by worker.
        busiest = max(pids, key=used.get)
        out = go_pprof("-top", f"-tagfocus=pid={busiest}", str(path))
        assert out.returncode == 0, out.stderr
        assert "checksum" in out.stdout
        tags = go_pprof("-tags", str(path))
        assert all(p in tags.stdout for p in sampled), tags.stdout


def test_worker_killed_mid_profile_gives_a_partial_profile(tmp_path):
    with running("gunicorn", tmp_path) as (master, url):
        pids = wait_for_workers(master.pid, 4)
        wait_idle(pids)
        load = hey(url + "/checksum", seconds=10, c=4)
        got = {}
        asking = threading.Thread(target=lambda: got.setdefault(
            "r", requests.get(url + "/debug/pprof/profile?seconds=6", timeout=60)))
        try:
            asking.start()
            # The worker that gathers holds a connection to each of the three others: once
            # all three are being asked, kill one of them, mid-profile.
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and len(being_asked(master.pid)) < 3:
                time.sleep(0.05)
            asked = being_asked(master.pid)
            assert len(asked) == 3, f"no worker was gathering from three others within 20 s: {asked}"
            time.sleep(0.5)
            victim = min(asked)
            os.kill(victim, signal.SIGKILL)
            asking.join()
        finally:
            load.wait(60)
        r = got["r"]
        assert r.status_code == 200, r.text
        prof = decode(r.content)
        assert str(victim) not in labels(prof, "pid")
        # The two workers serving the load are there (the gathering one slept: no CPU samples).
        survivors = {str(p) for p in pids if p != victim}
        assert labels(prof, "pid") <= survivors and len(labels(prof, "pid")) >= 2
        assert any("merged from 3 of 4 workers" in c for c in prof.comments), prof.comments
        note = [c for c in prof.comments if str(victim) in c]
        assert note and "exited during the request" in note[0] and "missing" in note[0], prof.comments
        # gunicorn replaces the worker; the next answer has the new one and not the dead one.
        now = wait_for_workers(master.pid, 4)
        assert victim not in now
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            prof = decode(requests.get(url + "/debug/pprof/goroutine", timeout=30).content)
            if labels(prof, "pid") == {str(p) for p in now}:
                break
            time.sleep(0.5)
        assert labels(prof, "pid") == {str(p) for p in now}
        assert victim not in {m.pid for m in sockets(master.pid)}


def test_preloaded_app(tmp_path):
    """--preload: the app (and pyprofnb) load in the master before it forks; the children
    join as its workers, sample their own heaps (the engine turns sampling off in a fork
    child; the endpoints turn it back on), and inherit no listener from the master."""
    with running("gunicorn", tmp_path, "--preload") as (master, url):
        pids = wait_for_workers(master.pid, 4)
        prof = decode(requests.get(url + "/debug/pprof/goroutine", timeout=30).content)
        assert labels(prof, "pid") == {str(p) for p in pids}
        heap = requests.get(url + "/debug/pprof/heap", timeout=30)
        assert heap.status_code == 200, heap.text
        assert any("merged from 4 of 4 workers" in c for c in decode(heap.content).comments)
        for pid in pids:
            text = requests.get(url + f"/debug/pprof/heap?debug=1&pid={pid}", timeout=30)
            assert text.status_code == 200 and text.text.startswith("heap profile: "), text.text
        assert master.pid not in {m.pid for m in sockets(master.pid)}
