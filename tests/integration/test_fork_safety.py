"""Fork safety of the collectors, as pre-fork servers and subprocess-happy apps use them:
a fork child starts with no CPU timer, no drain thread and heap sampling off, and a child
that execs never dies of a SIGPROF meant for its parent."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading

import pytest

from pyprofnb.collect import cpu, heap

pytestmark = pytest.mark.skipif(not cpu.available(), reason=cpu.UNAVAILABLE_REASON if not cpu.available() else "")


def spin(stop: threading.Event) -> None:
    x = 0
    while not stop.is_set():
        x += 1


def test_children_that_exec_survive_a_profiling_parent():
    """The parent profiles at 1000 Hz with two busy threads while it starts 40 CPU-bound
    shell children (fork+exec, the way subprocess does) and forks+execs 10 itself: every
    child exits 0, none dies of SIGPROF (whose default action kills)."""
    stop = threading.Event()
    threads = [threading.Thread(target=spin, args=(stop,)) for _ in range(2)]
    for t in threads:
        t.start()
    burn = "i=0; while [ $i -lt 5000 ]; do i=$((i+1)); done"
    try:
        cpu.start(hz=1000)
        try:
            codes = [subprocess.run(["sh", "-c", burn]).returncode for _ in range(40)]
            for _ in range(10):
                pid = os.fork()
                if pid == 0:  # pragma: no cover (child)
                    try:
                        os.execv("/bin/sh", ["sh", "-c", burn])
                    finally:
                        os._exit(127)
                _, status = os.waitpid(pid, 0)
                codes.append(os.waitstatus_to_exitcode(status))
        finally:
            prof = cpu.stop()
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert codes == [0] * 50, f"children killed by signals: {[c for c in codes if c != 0]}"
    assert prof.n_samples > 0  # the parent was profiled all along


def test_fork_child_starts_clean():
    """A child forked while CPU and heap profiling run has neither: no timers (so no
    SIGPROF while it burns CPU), no session, heap hooks off; it can start its own."""
    script = textwrap.dedent("""
        import os, sys, threading
        from pyprofnb.collect import cpu, heap, _engine

        cpu.start(hz=1000)
        heap.start(rate=1024)
        stop = threading.Event()
        t = threading.Thread(target=lambda: [None for _ in iter(stop.is_set, True)])
        t.start()
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            report = [cpu.running(), heap.running(), _engine.cpu_stats()["timers"]]
            x = 0
            for i in range(1_000_000):  # CPU a parent's timer would have fired on
                x += i
            cpu.start(hz=100)   # and the child can profile itself
            for i in range(1_000_000):
                x += i
            prof = cpu.stop()
            report.append(prof.n_samples > 0)
            os.write(w, repr(report).encode())
            os._exit(0)
        os.close(w)
        _, status = os.waitpid(pid, 0)
        stop.set(); t.join()
        cpu.stop(); heap.stop()
        print(os.waitstatus_to_exitcode(status), os.read(r, 1000).decode())
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    code, report = out.stdout.split(" ", 1)
    assert code == "0"
    assert report.strip() == "[False, False, 0, True]"


def test_a_profiled_process_that_execs_survives():
    """A process that calls os.execv while it is being profiled (a server re-executing
    itself, a wrapper handing over to the real program): the new program burns CPU and
    must not die of SIGPROF. POSIX timers (timer_create) are deleted by execve, but an
    ITIMER_PROF interval timer survives it, and the new image has SIGPROF's default action:
    terminate. The engine uses setitimer on kernels before 6.4, so there this test shows
    whether exec is guarded."""
    burn = "x = 0\nfor i in range(3_000_000): x += i\nprint('survived')"
    script = textwrap.dedent(f"""
        import os, sys
        from pyprofnb.collect import cpu
        cpu.start(hz=1000)
        x = 0
        for i in range(500_000):  # the timer is armed and firing before the exec
            x += i
        os.execv(sys.executable, [sys.executable, "-c", {burn!r}])
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert (out.returncode, out.stdout.strip()) == (0, "survived"), (out.returncode, out.stderr)


def test_fork_while_a_thread_is_being_started():
    """threadcreate's bookkeeping lock, held by another thread at the instant of a fork
    (that thread is inside Thread.start), must not leave the child unable to start threads:
    the child gets a fresh lock."""
    script = textwrap.dedent("""
        import os, signal, threading
        from pyprofnb.collect import threads

        held, release = threading.Event(), threading.Event()

        def hold():
            with threads._created_lock:   # as a Thread.start() in progress does
                held.set()
                release.wait()

        t = threading.Thread(target=hold)
        t.start()
        held.wait()
        pid = os.fork()
        if pid == 0:
            signal.alarm(10)  # a deadlocked child is killed by SIGALRM instead of hanging the test
            worker = threading.Thread(target=lambda: None)
            worker.start()
            worker.join()
            os._exit(0)
        release.set()
        t.join()
        _, status = os.waitpid(pid, 0)
        print(os.waitstatus_to_exitcode(status))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "0", f"the child could not start a thread (exit {out.stdout.strip()})"
