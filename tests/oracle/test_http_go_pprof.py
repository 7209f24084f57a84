"""`go tool pprof -top` (the real one) against the demo server's endpoints and its saved
debug=1 text."""
from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import requests

from pyprofnb.codec import legacy_text
from pyprofnb.codec.proto import decode

P = "/debug/pprof/"
SHOWING = re.compile(r"Showing nodes accounting for .*, .* of (\S+) total")


def top(go_pprof, *args):
    result = go_pprof("-top", *args)
    assert result.returncode == 0, result.stderr
    assert SHOWING.search(result.stdout), result.stdout
    return result.stdout


def need_engine(base):
    r = requests.get(base + P + "heap", timeout=30)
    if r.status_code == 501:
        pytest.skip(r.text.strip())


_loaded = set()


def load(base, n=None):
    """Put the demo service under some load once, so heap and allocs have its records."""
    if base in _loaded:
        return
    if shutil.which("hey"):
        subprocess.run(["hey", "-m", "POST", "-c", "8", "-n", "3000", base + "/sendjson"],
                       capture_output=True, timeout=120, check=True)
    else:
        with requests.Session() as s:
            for _ in range(1000):
                s.post(base + "/sendjson", timeout=5)
    _loaded.add(base)


def test_goroutine(go_pprof, demo_server):
    out = top(go_pprof, demo_server + P + "goroutine")
    assert "Type: goroutine" in out and "BaseServer.serve_forever" in out


def test_goroutine_delta(go_pprof, demo_server):
    out = top(go_pprof, "-seconds", "1", demo_server + P + "goroutine")
    assert "Type: goroutine" in out


def test_wall(go_pprof, demo_server):
    out = top(go_pprof, "-seconds", "1", demo_server + P + "wall")
    assert "Type: wall" in out and "serve_forever" in out


@pytest.mark.parametrize("index", ["inuse_space", "inuse_objects", "alloc_space", "alloc_objects"])
def test_heap_sample_indexes(go_pprof, demo_server, index):
    need_engine(demo_server)
    load(demo_server)
    out = top(go_pprof, f"-{index}", demo_server + P + "heap")
    assert f"Type: {index}" in out


def test_allocs_defaults_to_alloc_space_and_shows_send_json(go_pprof, demo_server):
    need_engine(demo_server)
    load(demo_server)
    out = top(go_pprof, "-cum", demo_server + P + "allocs")
    assert "Type: alloc_space" in out
    assert "send_json" in out


def test_heap_delta(go_pprof, demo_server):
    need_engine(demo_server)
    out = top(go_pprof, "-seconds", "1", demo_server + P + "heap")
    assert "Type: inuse_space" in out


def test_cpu(go_pprof, demo_server):
    need_engine(demo_server)
    out = top(go_pprof, "-seconds", "1", demo_server + P + "profile")
    assert "Type: cpu" in out


def _proto_of_text(go_pprof, path):
    """go tool pprof's own reading of a text profile, re-emitted as proto."""
    result = go_pprof("-proto", str(path), binary=True)
    assert result.returncode == 0, result.stderr
    return decode(result.stdout)


def test_saved_heap_text(go_pprof, demo_server, tmp_path):
    need_engine(demo_server)
    load(demo_server)
    text = requests.get(demo_server + P + "heap?debug=1", timeout=30).text
    saved = tmp_path / "heap.txt"
    saved.write_text(text)
    out = top(go_pprof, "-inuse_space", str(saved))
    assert "Type: inuse_space" in out
    # pprof's reading of the text equals ours, value for value.
    theirs = _proto_of_text(go_pprof, saved)
    ours = legacy_text.parse_heap_text(text)
    assert [str(t) for t in theirs.sample_types] == [str(t) for t in ours.sample_types]
    assert theirs.totals() == ours.totals() and theirs.period == ours.period


def test_saved_goroutine_text(go_pprof, demo_server, tmp_path):
    text = requests.get(demo_server + P + "goroutine?debug=1", timeout=30).text
    saved = tmp_path / "goroutine.txt"
    saved.write_text(text)
    top(go_pprof, str(saved))
    assert _proto_of_text(go_pprof, saved).totals() == legacy_text.parse_count_text(text).totals()


def test_heap_text_symbolized_through_symbol_endpoint(go_pprof, demo_server):
    """pprof names a text profile's addresses by asking /debug/pprof/symbol."""
    need_engine(demo_server)
    load(demo_server)
    out = top(go_pprof, "-alloc_space", demo_server + P + "heap?debug=1")
    assert re.search(r"\d%\s+[A-Za-z_<]", out), out  # names, not bare addresses


@pytest.mark.parametrize("name", ["heap", "goroutine"])
def test_reads_gos_own_debug1_text_like_pprof(go_pprof, go_service, tmp_path, name):
    """Go's real debug=1 output: our reader agrees with pprof's legacy parser, value for
    value, and names the frames from the '#' lines where pprof shows addresses."""
    url, _ = go_service
    # gc=1: Go's heap profile only shows allocations up to the last completed GC cycle.
    query = "?debug=1&gc=1" if name == "heap" else "?debug=1"
    text = requests.get(url + P + name + query, timeout=30).text
    saved = tmp_path / f"{name}.txt"
    saved.write_text(text)
    theirs = _proto_of_text(go_pprof, saved)
    ours = legacy_text.parse(text)
    assert [str(t) for t in theirs.sample_types] == [str(t) for t in ours.sample_types]
    assert theirs.totals() == ours.totals() and theirs.period == ours.period
    assert str(theirs.period_type) == str(ours.period_type)
    # Current pprof keeps the leaf address as written; Go 1.19's pprof also moves it back by 1.
    ours_addresses = set(ours.loc_address.tolist())
    assert all(a in ours_addresses or a + 1 in ours_addresses for a in theirs.loc_address.tolist())
    assert any(name.startswith("main.") for name in ours.func_name)


def test_reads_gos_threadcreate_text(go_service):
    """Go writes "1 @" for the main thread, which pprof's parser refuses; ours takes it."""
    url, _ = go_service
    text = requests.get(url + P + "threadcreate?debug=1", timeout=30).text
    total = int(text.split("total ", 1)[1].split("\n", 1)[0])
    assert legacy_text.parse(text).total() == total
