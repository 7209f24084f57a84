"""The frame walk cannot fault (issue 16): pointers it cannot validate are refused, reads
that would fault are caught, and faults that are not the walk's still reach their handler.

- Fault injection: the walk is started from addresses that are no frame (unmapped, kernel,
  misaligned, an ordinary object, and every 8-byte offset within 4 KiB around the live
  frames); only the real frames are accepted, nothing crashes.
- Stress (bounded here; `make soak-walk` runs it for minutes): exec(compile(...)) loops,
  class creation, gc storms and thread churn under CPU profiling at 10 kHz and heap
  sampling at rate 512, in a child process that must exit cleanly.
- A real segfault outside a walk still dies of SIGSEGV with faulthandler's traceback,
  whether faulthandler was enabled before or after the walk's guard.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from pyprofnb.collect import cpu

pytestmark = pytest.mark.skipif(cpu.mode() != "native", reason=f"native engine unavailable: {cpu.mode()}")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STRESS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "walk_stress.py")


def run(code: str, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, **kw)


def test_walk_refuses_every_pointer_that_is_no_live_frame():
    proc = run("""
        import json
        from pyprofnb.collect import _engine as e

        def deep(n):
            if n:
                return deep(n - 1)
            real, cut = e._walk_probe(0, True)
            absolute = {hex(a): e._walk_probe(a) for a in
                        (8, 0x10, 0x1001, 0xdeadbeef0, 0x7ffffffff000, 0xffffffffff600000 - (1 << 64), id(object()), id(deep))}
            around = {off: e._walk_probe(off, True) for off in range(-4096, 4096, 8) if off}
            return real, cut, absolute, around

        real, cut, absolute, around = deep(25)
        print(json.dumps({"real": real, "cut": cut, "absolute": absolute,
                          "around": {k: v for k, v in around.items() if v[0]}, "stats": e.walk_stats()}))
    """)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["cut"] == 0 and out["real"] >= 27, out  # deep x26, <module>
    assert all(n == 0 for n, _ in out["absolute"].values()), out["absolute"]
    # Of every other 8-byte offset within 4 KiB of the newest frame, only the frame right
    # under it is accepted (the newest is then exactly one frame above, like a call in
    # progress), and it yields that frame's whole stack: on 3.11 the newest frame is the
    # dict comprehension's and the one under it deep(0) (`real` frames); from 3.12 on
    # comprehensions are inlined, the newest is deep(0) and the one under it deep(1).
    kept = out["around"]
    assert len(kept) <= 1, kept
    assert all(int(k) < 0 and v[0] in (out["real"], out["real"] - 1) and v[1] == 0 for k, v in kept.items()), kept
    assert out["stats"]["walks_cut_fault"] > 0  # unmapped addresses were read, and survived


def test_stress_exec_classes_gc_threads_at_10khz_and_heap_rate_512():
    proc = subprocess.run([sys.executable, "-X", "faulthandler", STRESS, "--seconds", "20"],
                          capture_output=True, text=True, timeout=180, cwd=ROOT)
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stderr[-4000:]}"
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["cycles"] >= 3 and out["cpu_samples"] > 1000 and out["heap_samples"] > 10000, out
    assert out["iterations"] > 1000 and out["threads_made"] > 20, out


@pytest.mark.parametrize("order", ["faulthandler first", "guard first"])
def test_a_real_segfault_still_reaches_faulthandler_and_kills(order):
    first, second = (
        ("faulthandler.enable()", "cpu.start(); cpu.stop()") if order == "faulthandler first"
        else ("cpu.start(); cpu.stop()", "faulthandler.enable()")
    )
    proc = run(f"""
        import ctypes, faulthandler
        from pyprofnb.collect import cpu
        {first}
        {second}
        ctypes.string_at(0)  # a NULL read outside any walk
        print("survived")
    """)
    assert proc.returncode == -signal.SIGSEGV, (proc.returncode, proc.stdout, proc.stderr[-2000:])
    assert "Fatal Python error: Segmentation fault" in proc.stderr, proc.stderr[-2000:]
    assert "survived" not in proc.stdout
