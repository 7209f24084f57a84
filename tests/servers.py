"""Production servers for the tests: uvicorn and gunicorn running the demo apps
(demo_server/asgi_app.py, demo_server/wsgi_app.py) as real child processes, each with its own
TMPDIR so that what pre-fork gathering leaves on disk can be checked."""
from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

from demo_server.launch import free_port, server_log, start_command, stop_command

REPO = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def running(kind: str, tmp: Path, *extra: str, workers: int = 4):
    """``kind``: "uvicorn" (FastAPI app), "uvicorn-workers" (the same, uvicorn --workers),
    "gunicorn" (Flask app, sync workers) or "gunicorn-uvicorn" (FastAPI app, uvicorn
    workers). Yields (process, base URL)."""
    port = free_port()
    bind = f"127.0.0.1:{port}"
    if kind == "uvicorn":
        argv = [sys.executable, "-m", "uvicorn", "demo_server.asgi_app:app", "--port", str(port), "--no-access-log"]
    elif kind == "uvicorn-workers":  # uvicorn's own process manager: spawned, not forked
        argv = [sys.executable, "-m", "uvicorn", "demo_server.asgi_app:app", "--port", str(port), "--no-access-log",
                "--workers", str(workers)]
    elif kind == "gunicorn":
        argv = [sys.executable, "-m", "gunicorn", "-w", str(workers), "-b", bind, "--graceful-timeout", "5",
                "--timeout", "120", "demo_server.wsgi_app:app"]
    elif kind == "gunicorn-uvicorn":
        argv = [sys.executable, "-m", "gunicorn", "-w", str(workers), "-k", "uvicorn.workers.UvicornWorker",
                "-b", bind, "--graceful-timeout", "5", "demo_server.asgi_app:app"]
    else:
        raise ValueError(kind)
    env = dict(os.environ, TMPDIR=str(tmp), PYTHONPATH=str(REPO))
    proc, url = start_command(*argv, *extra, port=port, cwd=tmp, env=env)
    try:
        yield proc, url
    finally:
        stop_command(proc)


def children(pid: int) -> list[int]:
    """The pids of a process's children (Linux /proc)."""
    out = []
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/children") as fh:
                out += [int(p) for p in fh.read().split()]
        except OSError:
            pass
    return sorted(out)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (/proc/PID/stat, all its threads)."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def thread_cpu(pid: int) -> dict[int, float]:
    """CPU time of each thread of a process so far, by kernel tid, in seconds with the
    scheduler's nanosecond precision (/proc/PID/task/TID/schedstat: the clock CPU timers
    count; /proc's utime and stime come in 10 ms ticks, too coarse for a few tenths of a
    second summed over threads)."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as fh:
                out[int(tid)] = int(fh.read().split()[0]) / 1e9
        except (OSError, ValueError, IndexError):
            continue  # the thread ended meanwhile
    return out


def thread_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def sockets(master: int) -> list:
    """The pre-fork member sockets of the server led by ``master`` (`prefork.Member`s)."""
    from pyprofnb.http import prefork

    name = prefork.group_name(master)
    return prefork.listening(name + "/") if name else []


def being_asked(master: int) -> set[int]:
    """Pids of the members that hold an accepted connection on their socket right now (the
    workers another worker is gathering from): /proc/net/unix lists an accepted socket
    under its listener's name, connected (state 03), without the listening flag."""
    from pyprofnb.http import prefork

    name = prefork.group_name(master)
    out = set()
    with open("/proc/net/unix") as fh:
        next(fh)
        for line in fh:
            fields = line.split()
            if len(fields) < 8 or not fields[7].startswith(f"@{name}/") or fields[5] != "03":
                continue
            if int(fields[3], 16) & 0x10000:
                continue
            out.add(int(fields[7].rsplit("/", 1)[1].split(".")[0]))
    return out


def wait_for_workers(master: int, n: int, timeout: float = 60) -> list[int]:
    """The master's n workers, once all of them run and have joined their group (each
    listens on its socket)."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = children(master)  # (uvicorn --workers also has multiprocessing's resource tracker)
        joined = {m.pid for m in sockets(master)}
        if len(joined) == n and joined <= set(pids):
            return sorted(joined)
        time.sleep(0.2)
    raise AssertionError(f"expected {n} workers of pid {master} with sockets, have {children(master)} "
                         f"and {sockets(master)}")


def wait_idle(pids: list[int], timeout: float = 60, interval: float = 0.5, busy: float = 0.02) -> None:
    """Until each process used less than ``busy`` s of CPU over ``interval`` s: workers still
    booting (on a loaded machine, importing the app takes seconds) would add CPU to a
    measurement that has nothing to do with what it measures."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = {p: cpu_seconds(p) for p in pids}
        time.sleep(interval)
        if all(cpu_seconds(p) - before[p] < busy for p in pids):
            return
    raise AssertionError(f"workers {pids} did not settle within {timeout:g} s")


def hey(url: str, seconds: int, c: int = 8) -> subprocess.Popen:
    """The real hey, in the background, for ``seconds``."""
    return subprocess.Popen(["hey", "-z", f"{seconds}s", "-c", str(c), url],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


__all__ = ["being_asked", "children", "cpu_seconds", "hey", "running", "server_log", "sockets", "thread_count", "thread_cpu", "wait_for_workers", "wait_idle"]
