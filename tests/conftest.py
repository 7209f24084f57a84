"""Shared fixtures: a real demo server subprocess, and the real `go tool pprof`."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from demo_server.launch import start_server, stop_server
from gotools import go_env, go_profiles, go_service, go_tmp, run_go  # noqa: F401  (fixtures for every module)

REPO = Path(__file__).resolve().parent.parent
GO = shutil.which("go") or "/usr/bin/go"


def start_demo_server(*extra: str, timeout: float = 30.0):
    """Start ``python -m demo_server --port <free>``; return (process, base URL) once it
    prints ``listening on``."""
    return start_server("-m", "demo_server", *extra, timeout=timeout, cwd=REPO)


def stop_demo_server(proc) -> None:
    stop_server(proc)


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
        pytest.fail("go (Debian golang-go) is not installed: `make test` installs it")
    env = go_env(tmp_path_factory.mktemp("gohome"))

    def run(*args: str, timeout: float = 60, binary: bool = False):
        return run_go(["tool", "pprof", *args], env, timeout, text=not binary)

    return run


@pytest.fixture(scope="session")
def spark():
    """One local-mode SparkSession (2 cores, no UI) shared by every Spark test: starting one
    costs tens of seconds on this machine."""
    from pyprofnb.fleet.spark import local_session

    session = local_session("pyprofnb-tests", cores="2")
    try:
        yield session
    finally:
        session.stop()
