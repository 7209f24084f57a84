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
