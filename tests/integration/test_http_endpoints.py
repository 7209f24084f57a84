"""The /debug/pprof endpoints of the real demo server, over real HTTP."""
from __future__ import annotations

import re
import socket
import threading
import time
from urllib.parse import urlsplit

import pytest
import requests

from pyprofnb.codec import legacy_text
from pyprofnb.codec.proto import decode

P = "/debug/pprof/"


def get(base, path, **kw):
    return requests.get(base + P + path, timeout=kw.pop("timeout", 30), **kw)


def label_values(prof, key):
    return {v for k, v in zip(prof.label_key, prof.label_str) if k == key}


def engine(base, path):
    """Skip the test when the native engine is not there (the endpoint answers 501)."""
    r = get(base, path)
    if r.status_code == 501:
        pytest.skip(r.text.strip())
    return r


# ------------------------------------------------------------------ index and simple routes

def test_index_page_lists_profiles_like_go(demo_server):
    r = get(demo_server, "")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/html; charset=utf-8"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert "<title>/debug/pprof/</title>" in r.text
    assert "Set debug=1 as a query parameter to export in legacy text format" in r.text
    assert "<thead><td>Count</td><td>Profile</td></thead>" in r.text
    assert '<a href="goroutine?debug=2">full goroutine stack dump</a>' in r.text
    names = re.findall(r"<div class=profile-name>(\w+): </div>", r.text)
    assert names == sorted(names)
    assert set(names) == {"allocs", "cmdline", "goroutine", "heap", "profile", "threadcreate", "wall"}
    for name in names:
        assert f"href='{name}?debug=1'" in r.text
    counts = dict(re.findall(r"<td>(\d+)</td><td><a href='(\w+)\?debug=1'", r.text)[i][::-1] for i in range(len(names)))
    assert int(counts["goroutine"]) >= 1 and counts["profile"] == "0" and counts["cmdline"] == "0"


def test_prefix_without_slash_redirects(demo_server):
    r = requests.get(demo_server + "/debug/pprof", allow_redirects=False, timeout=10)
    assert r.status_code == 301 and r.headers["Location"] == P


def test_cmdline_is_nul_joined_argv(demo_server):
    r = get(demo_server, "cmdline")
    assert r.headers["Content-Type"] == "text/plain; charset=utf-8"
    argv = r.text.split("\x00")
    assert argv[1:3] == ["-m", "demo_server"] and "--port" in argv


def test_symbol_get_and_post(demo_server):
    r = get(demo_server, "symbol")
    assert r.status_code == 200 and r.text == "num_symbols: 1\n"
    text = get(demo_server, "goroutine", params={"debug": "1"}).text
    frames = re.findall(r"#\t(0x[0-9a-f]+)\t([^\t+]+)\+", text)
    assert frames
    pcs = [pc for pc, _ in frames[:3]]
    r = requests.post(demo_server + P + "symbol", data="+".join(pcs + ["0x1"]), timeout=10)
    lines = r.text.splitlines()
    assert lines[0] == "num_symbols: 1"
    assert lines[1:] == [f"{pc} {name}" for pc, name in frames[:3]]
    r = requests.get(demo_server + P + "symbol?" + pcs[0], timeout=10)
    assert r.text.splitlines()[1] == f"{pcs[0]} {frames[0][1]}"


# ------------------------------------------------------------------ threads

def test_goroutine_proto_has_threads_as_labels(demo_server):
    r = get(demo_server, "goroutine")
    assert r.headers["Content-Type"] == "application/octet-stream"
    assert r.headers["Content-Disposition"] == 'attachment; filename="goroutine"'
    prof = decode(r.content)
    assert [str(t) for t in prof.sample_types] == ["goroutine/count"]
    assert str(prof.period_type) == "goroutine/count" and prof.period == 1
    assert "MainThread" in label_values(prof, "thread")
    assert "serve_forever" in " ".join(prof.func_name)  # qualified names, e.g. BaseServer.serve_forever
    assert any(name.endswith("BaseServer.serve_forever") for name in prof.func_name)
    assert all(prof.func_start_line > 0)


def test_goroutine_debug1_is_go_count_text(demo_server):
    r = get(demo_server, "goroutine", params={"debug": "1"})
    assert r.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert re.match(r"goroutine profile: total \d+\n\d+ @( 0x[0-9a-f]+)+\n#\t0x[0-9a-f]+\t", r.text)
    prof = legacy_text.parse_count_text(r.text)
    total = int(r.text.split("total ", 1)[1].split("\n", 1)[0])
    assert prof.total() == total
    assert "serve_forever" in " ".join(prof.func_name)


def test_goroutine_debug2_dumps_every_thread(demo_server):
    text = get(demo_server, "goroutine", params={"debug": "2"}).text
    headers = re.findall(r'^thread (\d+) "([^"]*)" native_id=(\d+) daemon=(True|False) \[([^\]]*)\]:$', text, re.M)
    assert headers and headers[0][4] == "running"  # the thread serving the request comes first
    names = {h[1] for h in headers}
    assert "MainThread" in names
    main = next(h for h in headers if h[1] == "MainThread")
    assert main[3] == "False"
    assert re.search(r"serve_forever\(\.\.\.\)\n\t\S+socketserver\.py:\d+", text)
    assert "created by " in text  # request threads know who started them


def test_threadcreate(demo_server):
    prof = decode(get(demo_server, "threadcreate").content)
    assert [str(t) for t in prof.sample_types] == ["threadcreate/count"]
    text = get(demo_server, "threadcreate", params={"debug": "1"}).text
    assert text.startswith("threadcreate profile: total ")
    assert legacy_text.parse_count_text(text).total() == int(text.split("total ", 1)[1].split("\n")[0])
    assert "process_request" in text  # ThreadingHTTPServer starts a thread per connection


def test_goroutine_delta(demo_server):
    r = get(demo_server, "goroutine", params={"seconds": "1"})
    assert r.status_code == 200
    assert r.headers["Content-Disposition"] == 'attachment; filename="goroutine-delta"'
    prof = decode(r.content)
    assert 0.9e9 < prof.duration_nanos < 3e9 and prof.time_nanos > 0


# ------------------------------------------------------------------ wall clock

def test_wall_profile_includes_threads_waiting_on_io(demo_server):
    r = get(demo_server, "wall", params={"seconds": "1"})
    assert r.status_code == 200 and r.headers["Content-Disposition"] == 'attachment; filename="wall"'
    prof = decode(r.content)
    assert [str(t) for t in prof.sample_types] == ["samples/count", "wall/nanoseconds"]
    assert str(prof.period_type) == "wall/nanoseconds" and prof.period == 10_000_000
    assert "MainThread" in label_values(prof, "thread")
    # The main thread sits in selector.select: no CPU, but wall time.
    assert any(name.endswith("serve_forever") for name in prof.func_name)
    main_ns = sum(
        int(prof.values[s, 1]) for s, k, v in zip(prof.label_sample, prof.label_key, prof.label_str)
        if k == "thread" and v == "MainThread"
    )
    assert 0.5e9 < main_ns < 2e9


# ------------------------------------------------------------------ errors

ERRORS = [
    ("heap?seconds=abc", 400, 'invalid value for "seconds" - must be a positive integer'),
    ("goroutine?seconds=-1", 400, 'invalid value for "seconds" - must be a positive integer'),
    ("goroutine?seconds=0", 400, 'invalid value for "seconds" - must be a positive integer'),
    ("goroutine?seconds=1&debug=1", 400, "seconds and debug params are incompatible"),
    # Out of int64: strconv.ParseInt fails, so Go calls it invalid.
    ("goroutine?seconds=99999999999999999999", 400, 'invalid value for "seconds" - must be a positive integer'),
    ("goroutine?seconds=9223372036854775807", 400, "profile duration exceeds server's limit of 600 seconds"),
    # Digits of other scripts (², fullwidth 1, Arabic-Indic 3) are not digits to Go.
    ("heap?seconds=%C2%B2", 400, 'invalid value for "seconds" - must be a positive integer'),
    ("heap?seconds=%EF%BC%91", 400, 'invalid value for "seconds" - must be a positive integer'),
    ("profile?seconds=%D9%A3", 400, 'invalid value for "seconds" - must be a positive integer'),
    ("wall?seconds=%201", 400, 'invalid value for "seconds" - must be a positive integer'),
    ("profile?seconds=abc", 400, 'invalid value for "seconds" - must be a positive integer'),
    ("wall?seconds=-5", 400, 'invalid value for "seconds" - must be a positive integer'),
    ("wall?seconds=601", 400, "profile duration exceeds server's limit of 600 seconds"),
    ("block", 404, "Unknown profile"),
    ("nosuchprofile?debug=1", 404, "Unknown profile"),
]


@pytest.mark.parametrize("path,status,message", ERRORS)
def test_errors_are_gos(demo_server, path, status, message):
    r = get(demo_server, path)
    assert (r.status_code, r.text) == (status, message + "\n")
    assert r.headers["X-Go-Pprof"] == "1"
    assert r.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert "Content-Disposition" not in r.headers


def test_wrong_method(demo_server):
    r = requests.post(demo_server + P + "heap", timeout=10)
    assert r.status_code == 405 and "GET" in r.headers["Allow"]


def _open_and_abandon(base: str, path: str, after: float) -> None:
    host, port = urlsplit(base).hostname, urlsplit(base).port
    s = socket.create_connection((host, port))
    s.sendall(f"GET {P}{path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
    time.sleep(after)
    s.close()


def test_disconnect_stops_wall_profile(demo_server):
    _open_and_abandon(demo_server, "wall?seconds=60", 0.5)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if "pyprofnb-wall-sampler" not in get(demo_server, "goroutine", params={"debug": "2"}).text:
            break
        time.sleep(0.1)
    else:
        pytest.fail("the wall sampler kept running after its client left")


def test_sendjson_served_during_a_profile(demo_server):
    box = {}
    t = threading.Thread(target=lambda: box.update(r=get(demo_server, "wall", params={"seconds": "2"})))
    t.start()
    time.sleep(0.3)
    with requests.Session() as s:
        for _ in range(20):
            r = s.post(demo_server + "/sendjson", timeout=5)
            assert r.status_code == 200 and r.json()["name"] == "Bill"
    t.join()
    assert box["r"].status_code == 200


# ------------------------------------------------------------------ CPU and heap (native engine)

def test_cpu_profile(demo_server):
    r = engine(demo_server, "profile?seconds=1")
    assert r.status_code == 200
    assert r.headers["Content-Disposition"] == 'attachment; filename="profile"'
    prof = decode(r.content)
    assert [str(t) for t in prof.sample_types] == ["samples/count", "cpu/nanoseconds"]


def test_second_cpu_profile_is_refused(demo_server):
    engine(demo_server, "profile?seconds=1")
    box = {}
    t = threading.Thread(target=lambda: box.update(r=get(demo_server, "profile", params={"seconds": "3"})))
    t.start()
    time.sleep(0.7)
    r = get(demo_server, "profile", params={"seconds": "1"})
    t.join()
    assert (r.status_code, r.text) == (500, "Could not enable CPU profiling: cpu profiling already in use\n")
    assert r.headers["X-Go-Pprof"] == "1"
    assert box["r"].status_code == 200


def test_disconnect_stops_cpu_profile(demo_server):
    engine(demo_server, "profile?seconds=1")
    _open_and_abandon(demo_server, "profile?seconds=60", 0.5)
    time.sleep(0.5)
    r = get(demo_server, "profile", params={"seconds": "1"})
    assert r.status_code == 200, r.text


def test_heap_proto(demo_server):
    r = engine(demo_server, "heap")
    assert r.headers["Content-Disposition"] == 'attachment; filename="heap"'
    prof = decode(r.content)
    assert [str(t) for t in prof.sample_types] == [
        "alloc_objects/count", "alloc_space/bytes", "inuse_objects/count", "inuse_space/bytes"]
    assert str(prof.period_type) == "space/bytes" and prof.period > 0
    allocs = decode(get(demo_server, "allocs").content)
    assert allocs.default_sample_type == "alloc_space"
    assert get(demo_server, "allocs").headers["Content-Disposition"] == 'attachment; filename="allocs"'


HEADER = re.compile(r"heap profile: (\d+): (\d+) \[(\d+): (\d+)\] @ heap/(\d+)")


def test_heap_debug1_text(demo_server):
    with requests.Session() as s:
        for _ in range(200):
            s.post(demo_server + "/sendjson", timeout=5)
    r = engine(demo_server, "heap?debug=1")
    assert r.headers["Content-Type"] == "text/plain; charset=utf-8"
    text = r.text
    m = HEADER.match(text)
    assert m, text[:200]
    io_, ib, ao, ab, r2 = map(int, m.groups())
    rate = decode(get(demo_server, "heap").content).period
    assert r2 == 2 * rate
    assert ab != ib  # Go's alloc-bytes quirk keeps pprof reading four columns
    records = re.findall(r"^(-?\d+): (-?\d+) \[(\d+): (\d+)\] @((?: 0x[0-9a-f]+)*)$", text, re.M)
    assert records
    assert sum(int(r[0]) for r in records) == io_ and sum(int(r[2]) for r in records) == ao
    assert re.search(r"^#\t0x[0-9a-f]+\t\S+\+0x[0-9a-f]+\t+\S+:\d+$", text, re.M)
    trailer = text.split("\n# runtime.MemStats\n", 1)[1]
    fields = [line.split(" = ")[0][2:] for line in trailer.splitlines()]
    from pyprofnb.collect.runtime import FIELDS

    assert fields == list(FIELDS)
    assert fields[-1] == "MaxRSS"
    prof = legacy_text.parse_heap_text(text)
    assert [t.type for t in prof.sample_types][:2] == ["alloc_objects", "alloc_space"]


def test_heap_gc_param_forces_a_collection(demo_server):
    engine(demo_server, "heap")

    def forced():
        return int(re.search(r"^# NumForcedGC = (\d+)$", get(demo_server, "heap?debug=1").text, re.M).group(1))

    before = forced()
    assert get(demo_server, "heap", params={"gc": "1"}).status_code == 200
    assert forced() == before + 1


def test_heap_delta(demo_server):
    engine(demo_server, "heap")
    r = get(demo_server, "heap", params={"seconds": "1"})
    assert r.headers["Content-Disposition"] == 'attachment; filename="heap-delta"'
    prof = decode(r.content)
    assert 0.9e9 < prof.duration_nanos < 3e9
