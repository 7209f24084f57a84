"""Every tutorial notebook runs top to bottom every time: each is run N times in a row
(``make test-notebooks-10x``: N = 10) the way ``make test`` runs it once — nbval executes
every cell in a fresh kernel and compares the outputs with the committed ones (cells tagged
``nbval-ignore-output`` excepted, their checks still run) — and after each run no server the
notebook started is left.

Not part of ``make test`` (it takes N times as long): it is skipped unless
PYPROFNB_NOTEBOOK_REPEAT is set.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
TUTORIAL = ["01-load", "02-heap", "03-cpu", "04-compare"]
REPEAT = int(os.environ.get("PYPROFNB_NOTEBOOK_REPEAT", "0") or 0)


def processes_tagged(tag: str) -> list[tuple[int, str]]:
    """Live processes (not zombies) whose environment carries ``tag``: what one run started."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if tag.encode() not in (entry / "environ").read_bytes():
                continue
            stat = (entry / "stat").read_text()
            if stat[stat.rindex(")") + 2] == "Z":
                continue
            found.append((int(entry.name), (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()))
        except OSError:
            continue
    return found


@pytest.mark.skipif(REPEAT < 1, reason="set PYPROFNB_NOTEBOOK_REPEAT=N (make test-notebooks-10x)")
@pytest.mark.timeout(0)
@pytest.mark.parametrize("name", TUTORIAL)
def test_notebook_runs_every_time(name):
    durations = []
    for run in range(1, REPEAT + 1):
        tag = f"PYPROFNB_NOTEBOOK_RUN={uuid.uuid4().hex}"
        key, value = tag.split("=")
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "--nbval", str(NOTEBOOKS / f"{name}.ipynb"), "-p", "no:cacheprovider",
             "-q", "--nbval-cell-timeout=300"],
            env={**os.environ, key: value}, capture_output=True, text=True, timeout=1200,
        )
        durations.append(time.monotonic() - started)
        assert result.returncode == 0, f"{name}, run {run} of {REPEAT}:\n{result.stdout[-6000:]}\n{result.stderr[-2000:]}"
        deadline = time.monotonic() + 15
        while processes_tagged(tag) and time.monotonic() < deadline:
            time.sleep(0.2)
        left = processes_tagged(tag)
        assert not left, f"{name}, run {run}: left running {left}"
    print(f"{name}: {REPEAT} runs passed, {min(durations):.0f}-{max(durations):.0f} s each")
