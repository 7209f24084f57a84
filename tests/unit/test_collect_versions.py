"""Which interpreters get the native engine (collect/versions.py, read by setup.py and by
pyprofnb.collect): the supported ones, and a clear reason for every other."""
from __future__ import annotations

import pytest

from pyprofnb.collect import UNAVAILABLE_REASON, cpu
from pyprofnb.collect.versions import ENGINE_VERSIONS, engine_refusal


@pytest.mark.parametrize("version", ENGINE_VERSIONS)
def test_supported_gil_builds_on_linux(version):
    assert engine_refusal(version, "cpython", "linux", False) == ""


@pytest.mark.parametrize("args, words", [
    (((3, 12), "cpython", "linux", False), ["3.12", "cannot be tested"]),
    (((3, 14), "cpython", "linux", True), ["free-threaded", "3.14t"]),
    (((3, 16), "cpython", "linux", False), ["3.16", "has not been tested"]),
    (((3, 10), "cpython", "linux", False), ["3.10", "has not been tested"]),
    (((3, 13), "pypy", "linux", False), ["pypy 3.13"]),
    (((3, 13), "cpython", "darwin", False), ["Linux", "darwin"]),
])
def test_refused_with_the_reason(args, words):
    reason = engine_refusal(*args)
    assert reason and all(w in reason for w in words), reason


def test_this_interpreter_agrees_with_the_table():
    if engine_refusal():
        assert cpu.mode() in ("fallback", "unavailable") and engine_refusal() in UNAVAILABLE_REASON
    else:
        assert cpu.mode() == "native" or "PYPROFNB_ENGINE" in UNAVAILABLE_REASON or "not built" in UNAVAILABLE_REASON
