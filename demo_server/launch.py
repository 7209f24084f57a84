"""Start a server as a child process on a free local port and wait until it listens; used
by the notebooks and the tests (`python -m demo_server`, or any script that takes --port and
prints ``listening on http://HOST:PORT`` when ready)."""
from __future__ import annotations

import socket
import subprocess
import sys
import threading


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(*command: str, timeout: float = 30.0, cwd=None) -> tuple[subprocess.Popen, str]:
    """Run ``python COMMAND... --port <free port>``; return (process, base URL) once it prints
    ``listening on URL``.

    >>> proc, url = start_server("-m", "demo_server")
    """
    port = free_port()
    proc = subprocess.Popen([sys.executable, *command, "--port", str(port)], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen: list[str] = []
    ready = threading.Event()

    def watch() -> None:
        for line in proc.stdout:
            seen.append(line)
            if line.startswith("listening on "):
                ready.set()
                return
        ready.set()

    threading.Thread(target=watch, daemon=True).start()
    if ready.wait(timeout) and seen and seen[-1].startswith("listening on "):
        return proc, seen[-1].split("listening on ", 1)[1].strip()
    proc.kill()
    proc.wait()
    raise RuntimeError(f"{' '.join(command)} did not start within {timeout:g} s:\n" + "".join(seen))


def stop_server(proc: subprocess.Popen) -> int:
    """Stop it (SIGTERM, then SIGKILL after 10 s); returns its exit status."""
    proc.terminate()
    try:
        return proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


_started: list[subprocess.Popen] = []


def start_command(*argv: str, port: int, timeout: float = 60.0, cwd=None, env=None) -> tuple[subprocess.Popen, str]:
    """Run a server command that listens on ``port`` (uvicorn, gunicorn, ...); return
    (process, base URL) once the port accepts connections. The process leads its own
    process group, so `stop_command` stops its workers too, and it is stopped when this
    Python process exits (a notebook whose cell failed leaves no server behind).

    >>> port = free_port()
    >>> proc, url = start_command(sys.executable, "-m", "gunicorn", "-w", "4",
    ...                           "-b", f"127.0.0.1:{port}", "demo_server.wsgi_app:app", port=port)
    """
    import os
    import tempfile
    import time

    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(list(argv), cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    proc.log = log
    _started.append(proc)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    stop_command(proc)
    log.seek(0)
    raise RuntimeError(f"{' '.join(argv)} did not listen on port {port} within {timeout:g} s:\n"
                       + log.read().decode(errors="replace"))


def stop_command(proc: subprocess.Popen, grace: float = 15.0) -> int:
    """SIGTERM to the server's process group (a pre-fork master stops its workers), SIGKILL
    to the group after ``grace`` seconds; returns the exit status."""
    import os
    import signal

    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        status = proc.wait(grace)
    except subprocess.TimeoutExpired:
        status = None
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # whatever of the group is left
    except ProcessLookupError:
        pass
    if status is None:
        status = proc.wait()
    if proc in _started:
        _started.remove(proc)
    return status


def server_log(proc: subprocess.Popen) -> str:
    """What a `start_command` server printed so far."""
    proc.log.seek(0)
    return proc.log.read().decode(errors="replace")


def _stop_all() -> None:
    for proc in list(_started):
        stop_command(proc, grace=5)


import atexit  # noqa: E402

atexit.register(_stop_all)
