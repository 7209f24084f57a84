"""The ASGI middleware under real uvicorn, serving the FastAPI demo app
(demo_server/asgi_app.py), read by pyprofnb and by the real `go tool pprof`."""
from __future__ import annotations

import threading
import time

import pytest
import requests

import pyprofnb
from pyprofnb.codec.proto import decode
from servers import hey, running


@pytest.fixture(scope="module")
def uvicorn_app(tmp_path_factory):
    with running("uvicorn", tmp_path_factory.mktemp("uvicorn")) as (proc, url):
        yield url


def test_routes_and_errors_as_go(uvicorn_app):
    url = uvicorn_app
    assert requests.get(url + "/sendjson", timeout=10).json()["name"] == "Bill"  # the app still answers
    index = requests.get(url + "/debug/pprof/", timeout=10)
    assert index.headers["content-type"].startswith("text/html") and "full goroutine stack dump" in index.text
    moved = requests.get(url + "/debug/pprof?debug=1", allow_redirects=False, timeout=10)
    assert (moved.status_code, moved.headers["location"]) == (301, "/debug/pprof/?debug=1")
    missing = requests.get(url + "/debug/pprof/nope", timeout=10)
    assert (missing.status_code, missing.text, missing.headers["x-go-pprof"]) == (404, "Unknown profile\n", "1")
    bad = requests.get(url + "/debug/pprof/profile?seconds=abc", timeout=10)
    assert bad.status_code == 400 and "seconds" in bad.text
    assert requests.post(url + "/debug/pprof/symbol", data="0x1", timeout=10).text == "num_symbols: 1\n"
    assert requests.post(url + "/debug/pprof/heap", timeout=10).status_code == 405
    head = requests.head(url + "/debug/pprof/goroutine", timeout=10)
    assert head.status_code == 200 and head.content == b"" and int(head.headers["content-length"]) > 0
    assert "uvicorn" in requests.get(url + "/debug/pprof/cmdline", timeout=10).text
    # DNS rebinding: a page served from another host name that reaches 127.0.0.1 is refused.
    rebound = requests.get(url + "/debug/pprof/heap", headers={"Host": "attacker.example"}, timeout=10)
    assert rebound.status_code == 403 and "DNS rebinding" in rebound.text
    big = requests.post(url + "/debug/pprof/symbol", data=b"0x1+" * 300_000, timeout=10)
    assert (big.status_code, big.headers["x-go-pprof"]) == (413, "1"), (big.status_code, big.text)


def test_cpu_profile_does_not_block_the_event_loop(uvicorn_app):
    """A 3 s profile runs in a thread: the app keeps answering at once, a second CPU profile
    is refused as Go does (500), and the profile shows the app's handler under load."""
    url = uvicorn_app
    got = {}
    profiling = threading.Thread(target=lambda: got.setdefault(
        "r", requests.get(url + "/debug/pprof/profile?seconds=3", timeout=30)))
    load = hey(url + "/report", seconds=4, c=4)
    try:
        profiling.start()
        time.sleep(0.5)
        latencies = []
        for _ in range(5):
            t0 = time.monotonic()
            assert requests.get(url + "/sendjson", timeout=10).status_code == 200
            latencies.append(time.monotonic() - t0)
        second = requests.get(url + "/debug/pprof/profile?seconds=1", timeout=10)
        profiling.join()
    finally:
        load.wait(30)
    # Under hey's load on 2 loaded cores a request takes milliseconds; blocked, it would take ~3 s.
    assert max(latencies) < 1.0, latencies
    assert (second.status_code, second.headers["x-go-pprof"]) == (500, "1")
    assert "already in use" in second.text
    prof = decode(got["r"].content)
    assert prof.duration_nanos >= 2.9e9
    top = prof.top()
    assert top.loc[top.index.str.contains("checksum"), "cum"].sum() > 0.1 * top["flat"].sum()


def test_client_leaving_ends_the_profile(uvicorn_app):
    url = uvicorn_app
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(url + "/debug/pprof/profile?seconds=60", timeout=1)
    # The abandoned profile stops within a poll interval or two, so a new one can start.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        r = requests.get(url + "/debug/pprof/profile?seconds=1", timeout=10)
        if r.status_code == 200:
            break
        time.sleep(0.2)
    assert r.status_code == 200, r.text


def test_go_tool_pprof_reads_it(uvicorn_app, go_pprof):
    url = uvicorn_app
    requests.get(url + "/report", timeout=10)
    heap = go_pprof("-top", "-sample_index=alloc_space", url + "/debug/pprof/heap")
    assert heap.returncode == 0, heap.stderr
    assert "Type: alloc_space" in heap.stdout
    load = hey(url + "/report", seconds=4, c=4)
    try:
        cpu = go_pprof("-top", "-seconds=3", url + "/debug/pprof/profile")
    finally:
        load.wait(30)
    assert cpu.returncode == 0, cpu.stderr
    assert "Type: cpu" in cpu.stdout and "checksum" in cpu.stdout
    ours = pyprofnb.load(url + "/debug/pprof/goroutine")
    assert ours.sample_types[0].type == "goroutine"
