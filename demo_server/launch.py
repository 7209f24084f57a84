"""Start a server as a child process on a free local port and wait until it listens; used
by the notebooks and the tests (`python -m demo_server`, or any script that takes --port and
prints ``listening on http://HOST:PORT`` when ready).

    with Server("-m", "demo_server") as server:     # a notebook: server = Server(...)
        requests.get(server.url + "/sendjson")

A `Server` stops when you call `stop`, leave the ``with`` block, drop the last reference to
it, or when the Python process that started it exits (a Jupyter kernel shut down or
restarted, a test run ending) — so a notebook whose Run All fails half way leaves no server
behind once its kernel goes. The demo server also exits by itself when its parent dies
without cleaning up (a kernel killed, or exiting because its own parent vanished): it
watches its standard input, a pipe whose only writer is the parent (`exit_with_parent`).
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import weakref

_GUARD_ENV = "DEMO_SERVER_EXIT_WITH_PARENT"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(*command: str, timeout: float = 30.0, cwd=None) -> tuple[subprocess.Popen, str]:
    """Run ``python COMMAND... --port <free port>``; return (process, base URL) once it prints
    ``listening on URL``. The process is stopped at interpreter exit if it still runs.

    >>> proc, url = start_server("-m", "demo_server")
    """
    port = free_port()
    proc = subprocess.Popen([sys.executable, *command, "--port", str(port)], cwd=cwd,
                            env={**os.environ, _GUARD_ENV: "1"},
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    # Held by the finalizer until exit: whatever else happens, the child does not outlive us.
    weakref.finalize(proc, stop_server, proc)
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
    if proc.poll() is not None:
        return proc.returncode
    proc.terminate()
    try:
        return proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


class Server:
    """A server child process on a free port: ``Server("-m", "demo_server").url``.

    Stops on `stop`, at the end of a ``with`` block, when garbage-collected, and at the exit
    of the process that started it, whichever comes first."""

    def __init__(self, *command: str, timeout: float = 30.0, cwd=None):
        self.command = command
        self.process, self.url = start_server(*command, timeout=timeout, cwd=cwd)
        self._finalizer = weakref.finalize(self, stop_server, self.process)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        """Stop the server (SIGTERM, SIGKILL after 10 s); its exit status is then in
        ``server.process.returncode``."""
        self._finalizer()
        self.process.wait()

    def __enter__(self) -> "Server":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else f"stopped (exit status {self.process.returncode})"
        return f"<Server {' '.join(self.command)} at {self.url}, pid {self.pid}, {state}>"


def exit_with_parent() -> None:
    """In a server started by `start_server`: exit as soon as standard input closes, which
    happens when the parent is gone however it went. Does nothing elsewhere."""
    if os.environ.get(_GUARD_ENV) != "1":
        return

    def watch_parent() -> None:
        try:
            while sys.stdin.buffer.read(4096):
                pass
        finally:
            os._exit(0)

    threading.Thread(target=watch_parent, name="exit-with-parent", daemon=True).start()


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


__all__ = ["Server", "exit_with_parent", "free_port", "server_log", "start_command", "start_server",
           "stop_command", "stop_server"]
