"""pyprofnb.collect's small API: require, the collector protocol, one hz bound, task ids."""
import subprocess
import sys
import textwrap
import time

import pytest

from pyprofnb import collect
from pyprofnb.collect import cpu, heap, wall
from pyprofnb.errors import ProfilingError

native = pytest.mark.skipif(collect._engine is None, reason="native engine unavailable")


def test_require_names_the_kind_and_the_reason():
    with pytest.raises(ProfilingError, match="unknown collector 'gpu'; expected one of cpu, heap"):
        collect.require("gpu")
    collect.require("wall")  # pure Python: always there
    if collect._engine is None:
        with pytest.raises(ProfilingError, match="cpu profiling is unavailable"):
            collect.require("cpu")
    else:
        collect.require("cpu")
        collect.require("heap")


@native
@pytest.mark.parametrize("kind", ["cpu", "heap", "wall"])
def test_one_collector_protocol(kind):
    # In a fresh interpreter: other tests may leave heap sampling on in this one.
    code = textwrap.dedent(f"""
    import time
    from pyprofnb import collect
    c = collect.collector({kind!r})
    assert c.start() is c
    keep = [bytes(200_000) for _ in range(20)]  # sampled by the heap collector almost surely
    deadline = time.thread_time() + 0.05
    while time.thread_time() < deadline:
        pass
    prof = c.stop()
    assert prof is c.profile and prof.n_samples > 0
    with collect.collector({kind!r}) as c2:
        pass
    assert c2.profile is not None
    print("ok")
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr


@pytest.mark.parametrize("bad", [0, 10_001, -5, 1.5, True, "100"])
def test_one_hz_bound_everywhere(bad):
    with pytest.raises(ProfilingError, match=r"hz must be an integer in 1\.\.10000"):
        collect.check_hz(bad)
    with pytest.raises(ProfilingError, match=r"hz must be an integer in 1\.\.10000"):
        wall.WallProfiler(bad)
    with pytest.raises(ProfilingError, match=r"hz must be an integer in 1\.\.10000"):
        cpu.CPUProfiler(bad)


@native
def test_set_task_returns_the_previous_id_and_checks_its_input():
    assert collect.set_task(7) == 0
    assert collect.set_task(0, "ignored") == 7
    assert collect.task_label(123) == "123"
    collect.set_task(5, "req-5")
    assert collect.task_label(5) == "req-5"
    collect.set_task(0)
    for bad in (-1, 2**64, "x", 1.0):
        with pytest.raises(ProfilingError, match="task_id must be an integer"):
            collect.set_task(bad)


@native
def test_paused_nests_and_restores():
    from pyprofnb.collect import _engine

    assert _engine.set_paused(False) is False
    with collect.paused():
        with collect.paused():
            assert _engine.set_paused(True) is True
        assert _engine.set_paused(True) is True
    assert _engine.set_paused(False) is False
