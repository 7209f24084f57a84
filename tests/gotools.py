"""The Go oracle for the tests: build the small Go service in tests/goservice, run it, fetch
its real profiles, and run the real `go tool pprof` (Debian's golang-go).

tests/conftest.py makes the fixtures available to every test module.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests

HERE = Path(__file__).parent


def go_env(tmp: Path) -> dict:
    env = dict(os.environ)
    # PYPROFNB_GOCACHE: a build cache kept between runs (the sid chroot's Go 1.27 has no
    # precompiled standard library: a fresh cache costs minutes per session).
    gocache = os.environ.get("PYPROFNB_GOCACHE") or str(tmp / "gocache")
    env.update(HOME=str(tmp), PPROF_TMPDIR=str(tmp / "pprof"), GOCACHE=gocache,
               GOPATH=str(tmp / "gopath"), GOFLAGS="", GO111MODULE="auto", TZ=os.environ.get("TZ", "UTC"))
    return env


def run_go(args: list[str], env: dict, timeout: float = 120, text: bool = True) -> subprocess.CompletedProcess:
    """``go ARGS`` bounded in time. `go tool pprof` runs pprof as a child process that holds
    the output pipes, so on a timeout the whole process group is killed, not just `go`."""
    proc = subprocess.Popen(["go", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=text, env=env,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        raise AssertionError(f"go {' '.join(args)} did not finish within {timeout:g} s: {err}") from None
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def run_go_pprof(args: list[str], tmp: Path, timeout: int = 120) -> str:
    """``go tool pprof ARGS`` and its standard output; fails the test on a non-zero exit."""
    proc = run_go(["tool", "pprof", *args], go_env(tmp), timeout)
    if proc.returncode != 0:
        raise AssertionError(f"go tool pprof {' '.join(args)} failed: {proc.stderr}")
    return proc.stdout


@pytest.fixture(scope="session")
def go_tmp(tmp_path_factory) -> Path:
    if shutil.which("go") is None:
        pytest.fail("go is not installed: `make test` installs golang-go; run it or apt-get install golang-go")
    return tmp_path_factory.mktemp("go")


@pytest.fixture(scope="session")
def go_service(go_tmp):
    """The Go service running; yields (base URL, path of its binary)."""
    binary = go_tmp / "goservice"
    subprocess.run(["go", "build", "-o", str(binary), str(HERE / "goservice" / "main.go")],
                   check=True, env=go_env(go_tmp), cwd=go_tmp, timeout=300)
    proc = subprocess.Popen([str(binary)], stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline().strip()
        assert line.startswith("listening on "), line
        yield line.removeprefix("listening on "), binary
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def go_profiles(go_service, go_tmp) -> dict[str, Path]:
    """Real Go profiles: cpu, heap, heap2 (one second later), allocs, allocs2, goroutine,
    heap_text (heap?debug=1)."""
    url, _ = go_service
    out = {}
    wanted = [("cpu", "profile?seconds=2"), ("heap", "heap"), ("allocs", "allocs"),
              ("goroutine", "goroutine"), ("heap_text", "heap?debug=1")]
    for name, path in wanted:
        out[name] = go_tmp / f"{name}.prof"
        out[name].write_bytes(requests.get(f"{url}/debug/pprof/{path}", timeout=30).content)
    time.sleep(1)
    for name, path in [("heap2", "heap"), ("allocs2", "allocs")]:
        out[name] = go_tmp / f"{name}.prof"
        out[name].write_bytes(requests.get(f"{url}/debug/pprof/{path}", timeout=30).content)
    return out


def from_showing(text: str) -> str:
    """The report from its "Showing nodes" line down (the lines before depend on the clock)."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(("Showing nodes", "Active filters")):
            return "\n".join(lines[i:])
    return text
