"""Shared fixtures: a real demo server subprocess, and the real `go tool pprof`."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
GO = shutil.which("go") or "/usr/bin/go"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_demo_server(*extra: str, timeout: float = 30.0):
    """Start ``python -m demo_server --port <free>``; return (process, base URL) once it
    prints ``listening on``."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "demo_server", "--port", str(port), *extra],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        if line.startswith("listening on "):
            return proc, line.split("listening on ", 1)[1].strip()
    proc.kill()
    raise RuntimeError("demo_server did not start:\n" + "".join(seen))


def stop_demo_server(proc) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="session")
def demo_server():
    """Base URL (``http://127.0.0.1:PORT``) of a real ``python -m demo_server`` process."""
    proc, url = start_demo_server()
    try:
        yield url
    finally:
        stop_demo_server(proc)


@pytest.fixture(scope="session")
def go_pprof(tmp_path_factory):
    """Run ``go tool pprof ARGS...`` with its HOME and PPROF_TMPDIR in a temporary directory;
    returns the CompletedProcess (text)."""
    if not os.path.exists(GO):
        pytest.skip("go (Debian golang-go) is not installed")
    home = tmp_path_factory.mktemp("gohome")
    env = dict(os.environ, HOME=str(home), PPROF_TMPDIR=str(home / "pprof"), GOFLAGS="", GOTOOLCHAIN="local")

    def run(*args: str, timeout: float = 60, binary: bool = False):
        return subprocess.run([GO, "tool", "pprof", *args], env=env, capture_output=True,
                              text=not binary, timeout=timeout)

    return run
