"""A notebook whose Run All fails half way leaves no server behind.

The tutorial notebooks start their demo server with `demo_server.launch.Server`. Here a real
Jupyter kernel runs a notebook's first cell (the one that starts the server), then a cell that
fails, as a Run All stopping early would; the server must be gone once the kernel is: shut
down or restarted the normal way (the server's finalizer runs at exit), or killed outright
(the server sees its standard input close and exits by itself).
"""
from __future__ import annotations

import os
import signal
import time
import uuid

import nbformat
import pytest
from jupyter_client.manager import start_new_kernel

from test_notebooks_repeat import NOTEBOOKS, processes_tagged


def start_cell(name: str) -> str:
    """The notebook's own cell that starts its server."""
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    return next(c.source for c in nb.cells if c.cell_type == "code" and "Server(" in c.source)


def servers(tag: str) -> list[tuple[int, str]]:
    return [p for p in processes_tagged(tag) if "demo_server" in p[1]]


def gone(tag: str, timeout: float = 15) -> bool:
    """No demo server of this test is left (waits up to ``timeout`` for them to exit)."""
    deadline = time.monotonic() + timeout
    while servers(tag) and time.monotonic() < deadline:
        time.sleep(0.2)
    return not servers(tag)


def gone_all(tag: str, timeout: float = 15) -> bool:
    """Nothing this test started is left, the kernel and its helpers included."""
    deadline = time.monotonic() + timeout
    while processes_tagged(tag) and time.monotonic() < deadline:
        time.sleep(0.2)
    return not processes_tagged(tag)


@pytest.mark.parametrize("how", ["shutdown", "restart", "kill -9 the kernel"])
def test_failed_run_leaves_no_server(how, monkeypatch):
    tag = uuid.uuid4().hex
    monkeypatch.setenv("PYPROFNB_NOTEBOOK_RUN", tag)
    km, kc = start_new_kernel(kernel_name="python3", cwd=str(NOTEBOOKS))
    try:
        reply = kc.execute_interactive(start_cell("01-load"), timeout=120)
        assert reply["content"]["status"] == "ok", reply["content"]
        assert servers(tag), "the notebook's first cell started a demo server"
        reply = kc.execute_interactive("raise RuntimeError('a cell fails; Run All stops here')", timeout=60)
        assert reply["content"]["status"] == "error"
        assert servers(tag), "the failed cell alone stops nothing: the kernel still holds the server"
        if how == "shutdown":
            km.shutdown_kernel(now=False)
        elif how == "restart":
            km.restart_kernel(now=False)
            assert gone(tag), f"left running after the restart: {servers(tag)}"
            km.shutdown_kernel(now=False)
        else:
            os.kill(km.provisioner.process.pid, signal.SIGKILL)  # the kernel alone: no finalizer runs
            assert gone(tag), f"left running after the kernel was killed: {servers(tag)}"
            km.shutdown_kernel(now=True)
        assert gone(tag) and gone_all(tag), f"left running: {processes_tagged(tag)}"
    finally:
        kc.stop_channels()
        if km.is_alive():
            km.shutdown_kernel(now=True)
