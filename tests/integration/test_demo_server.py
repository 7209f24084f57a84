"""The demo service itself: /sendjson, keep-alive, no Nagle stalls, profiles under load."""
from __future__ import annotations

import re
import shutil
import subprocess
import threading
import time

import pytest
import requests

from pyprofnb.codec.proto import decode

from conftest import start_demo_server, stop_demo_server

RECORD = {"name": "Bill", "email": "bill@ardanlabs.com", "age": 45, "tags": ["gopher", "pythonista"]}


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_sendjson(demo_server, method):
    r = requests.request(method, demo_server + "/sendjson", timeout=5)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json"
    assert r.json() == RECORD


def test_unknown_path_is_404(demo_server):
    assert requests.get(demo_server + "/nothing", timeout=5).status_code == 404


def test_keep_alive_without_nagle_stalls(demo_server):
    """200 requests on one connection: with the Nagle/delayed-ACK trap each would wait
    ~40 ms (8 s in all); without it they take a fraction of a second."""
    with requests.Session() as s:
        s.post(demo_server + "/sendjson", timeout=5)
        start = time.monotonic()
        for _ in range(200):
            r = s.post(demo_server + "/sendjson", data=b"x" * 10, timeout=5)
            assert r.status_code == 200
            assert r.headers.get("Connection", "").lower() != "close"
        assert time.monotonic() - start < 4


def test_binds_to_localhost_by_default():
    proc, url = start_demo_server("--port", "0")
    try:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url)
        assert url != "http://127.0.0.1:0"
        assert requests.get(url + "/sendjson", timeout=5).json() == RECORD
    finally:
        stop_demo_server(proc)


HEY = shutil.which("hey")


def hey(url, n=3000, c=8):
    out = subprocess.run([HEY, "-m", "POST", "-c", str(c), "-n", str(n), url],
                         capture_output=True, text=True, timeout=120).stdout
    assert f"[200]\t{n} responses" in out, out
    return out


@pytest.mark.skipif(HEY is None, reason="hey is not installed")
def test_send_json_in_cpu_profile_under_hey_load(demo_server):
    r = requests.get(demo_server + "/debug/pprof/heap", timeout=30)
    if r.status_code == 501:
        pytest.skip(r.text.strip())
    box = {}
    t = threading.Thread(target=lambda: box.update(
        r=requests.get(demo_server + "/debug/pprof/profile?seconds=3", timeout=30)))
    t.start()
    time.sleep(0.2)
    hey(demo_server + "/sendjson", n=4000)
    t.join()
    prof = decode(box["r"].content)
    assert "send_json" in set(prof.func_name)
    allocs = decode(requests.get(demo_server + "/debug/pprof/allocs", timeout=30).content)
    assert "send_json" in set(allocs.func_name)
    threads = {v for k, v in zip(prof.label_key, prof.label_str) if k == "thread"}
    assert any("process_request_thread" in name for name in threads)
