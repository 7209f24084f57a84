"""The endpoints cannot be used to hurt the service (issue 16): Go's parsing of ``seconds``,
bodies never buffered, a real listen backlog, bounded concurrent timed profiles, a Host check
on loopback-bound servers, and one method policy on the stdlib server and under WSGI alike.
Every test talks to a real server over real sockets."""
from __future__ import annotations

import socket
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
import requests

import pyprofnb.http
from pyprofnb.http import handlers
from pyprofnb.http.wsgi import PprofMiddleware

P = "/debug/pprof/"


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietWSGIHandler(WSGIRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def servers():
    """The three ways in, each on a free loopback port: the demo server (stdlib hook), the
    background debug server and a WSGI app under wsgiref."""
    from conftest import start_demo_server, stop_demo_server

    proc, demo = start_demo_server("--heap-rate", "0")
    debug = pyprofnb.http.start_debug_server("127.0.0.1:0", heap_rate=None)

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"app"]

    wsgi = make_server("127.0.0.1", 0, PprofMiddleware(app, heap_rate=None),
                       server_class=_ThreadingWSGIServer, handler_class=_QuietWSGIHandler)
    threading.Thread(target=wsgi.serve_forever, daemon=True).start()
    try:
        yield {"demo": demo, "debug": debug.url, "wsgi": f"http://127.0.0.1:{wsgi.server_address[1]}"}
    finally:
        debug.shutdown()
        debug.server_close()
        wsgi.shutdown()
        wsgi.server_close()
        stop_demo_server(proc)


KINDS = ("demo", "debug", "wsgi")


def raw_request(base: str, request: bytes, *, read_timeout: float = 10.0) -> bytes:
    """Send raw bytes, read until the server closes or ``read_timeout``; returns the reply."""
    url = urlsplit(base)
    with socket.create_connection((url.hostname, url.port), timeout=read_timeout) as s:
        s.sendall(request)
        reply = b""
        try:
            while chunk := s.recv(65536):
                reply += chunk
        except socket.timeout:
            pass
    return reply


# ------------------------------------------------------------------ seconds

@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("value", ["%C2%B2", "%EF%BC%91", "%D9%A3", "1%C2%B2", "%2B%EF%BC%91", "0x5", "1e1"])
def test_seconds_takes_ascii_digits_only(servers, kind, value):
    r = requests.get(f"{servers[kind]}{P}goroutine?seconds={value}", timeout=10)
    assert (r.status_code, r.text) == (400, 'invalid value for "seconds" - must be a positive integer\n')


def test_seconds_with_a_sign_is_go_parseint():
    # strconv.ParseInt takes a leading '+'; the profile then runs (1 s, delta of goroutines).
    r = handlers.handle("GET", P + "goroutine", "seconds=%2B1")
    assert r.status == 200 and r.headers[1] == ("Content-Type", "application/octet-stream")


# ------------------------------------------------------------------ bodies

@pytest.mark.parametrize("kind", KINDS)
def test_a_huge_body_on_a_get_is_never_read(servers, kind):
    """A GET announcing 1 GB gets its answer at once, without the server waiting for (or
    holding) the body; the connection is closed since the stream is out of step."""
    host = urlsplit(servers[kind]).netloc
    t0 = time.monotonic()
    reply = raw_request(servers[kind], (f"GET {P}cmdline HTTP/1.1\r\nHost: {host}\r\n"
                                        f"Content-Length: 1000000000\r\n\r\n").encode() + b"x" * 1000)
    assert reply.startswith(b"HTTP/1.") and b" 200 " in reply.split(b"\r\n", 1)[0]
    assert time.monotonic() - t0 < 5  # answered, and the connection closed, without the body


def test_demo_server_get_with_body_is_not_buffered(servers):
    host = urlsplit(servers["demo"]).netloc
    reply = raw_request(servers["demo"], (f"GET /sendjson HTTP/1.1\r\nHost: {host}\r\n"
                                          f"Content-Length: 1000000000\r\n\r\n").encode())
    assert b'"name": "Bill"' in reply


@pytest.mark.parametrize("kind", KINDS)
def test_symbol_body_is_bounded(servers, kind):
    big = b"0x1+" * (handlers.MAX_BODY_BYTES // 4 + 10)
    r = requests.post(servers[kind] + P + "symbol", data=big, timeout=30)
    assert r.status_code == 413 and "larger than" in r.text
    r = requests.post(servers[kind] + P + "symbol", data=b"0x1", timeout=10)
    assert r.status_code == 200


# ------------------------------------------------------------------ backlog

def test_debug_server_listen_backlog_is_128(servers):
    for kind in ("demo", "debug"):
        port = urlsplit(servers[kind]).port
        out = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True, timeout=10).stdout
        # For a listening socket, ss shows the backlog in the Send-Q column.
        assert out.split()[2] == "128", (kind, out)


# ------------------------------------------------------------------ concurrency

@pytest.mark.parametrize("kind", ("demo", "wsgi"))
def test_second_wall_profile_is_429(servers, kind):
    base = servers[kind]
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(requests.get, base + P + "wall?seconds=3", timeout=30)
        time.sleep(0.5)
        second = requests.get(base + P + "wall?seconds=1", timeout=30)
        assert second.status_code == 429 and second.headers["Retry-After"] == str(handlers.RETRY_AFTER)
        assert "already running" in second.text
        assert first.result().status_code == 200
    assert requests.get(base + P + "wall?seconds=1", timeout=30).status_code == 200  # the slot is free again


def test_delta_profiles_are_bounded(servers):
    base = servers["demo"]
    n = handlers.MAX_DELTA_PROFILES + 4
    with ThreadPoolExecutor(n) as pool:
        results = list(pool.map(lambda _: requests.get(base + P + "goroutine?seconds=2", timeout=30), range(n)))
    codes = sorted(r.status_code for r in results)
    assert codes.count(200) == handlers.MAX_DELTA_PROFILES and codes.count(429) == 4


# ------------------------------------------------------------------ Host

@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("host", ["attacker.example", "attacker.example:80", "10.1.2.3", "[2001:db8::1]:6060",
                                  "localhost.attacker.example"])
def test_dns_rebinding_host_is_refused_on_loopback(servers, kind, host):
    r = requests.get(servers[kind] + P + "cmdline", headers={"Host": host}, timeout=10)
    assert r.status_code == 403 and "DNS rebinding" in r.text and r.headers["X-Go-Pprof"] == "1"


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("host", ["localhost", "LOCALHOST:{port}", "127.0.0.1:{port}", "127.3.4.5", "[::1]:{port}",
                                  "app.localhost"])
def test_loopback_hosts_are_answered(servers, kind, host):
    port = urlsplit(servers[kind]).port
    r = requests.get(servers[kind] + P + "cmdline", headers={"Host": host.format(port=port)}, timeout=10)
    assert r.status_code == 200


def test_allowed_hosts_extend_the_check():
    server = pyprofnb.http.start_debug_server("127.0.0.1:0", heap_rate=None, allowed_hosts=["profiler.internal"])
    try:
        ok = requests.get(server.url + P + "cmdline", headers={"Host": "profiler.internal:6060"}, timeout=10)
        bad = requests.get(server.url + P + "cmdline", headers={"Host": "other.internal"}, timeout=10)
        assert (ok.status_code, bad.status_code) == (200, 403)
    finally:
        server.shutdown()
        server.server_close()


def test_loopback_detection():
    assert all(map(handlers.is_loopback, ["127.0.0.1", "127.255.0.9", "::1", "localhost", "::ffff:127.0.0.1"]))
    assert not any(map(handlers.is_loopback, ["0.0.0.0", "10.0.0.1", "example.com", "::", "", "localhost.example"]))


# ------------------------------------------------------------------ methods

@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("method", ["PUT", "DELETE", "OPTIONS", "PATCH"])
@pytest.mark.parametrize("path,allow", [("heap", "GET, HEAD"), ("", "GET, HEAD"), ("symbol", "GET, HEAD, POST")])
def test_one_method_policy_everywhere(servers, kind, method, path, allow):
    r = requests.request(method, servers[kind] + P + path, timeout=10)
    assert (r.status_code, r.headers.get("Allow"), r.text) == (405, allow, "Method Not Allowed\n")
    assert r.headers["Content-Type"] == "text/plain; charset=utf-8"


def test_debug_server_any_method_elsewhere_is_404(servers):
    for method in ("GET", "PUT", "BREW"):
        r = requests.request(method, servers["debug"] + "/elsewhere", timeout=10)
        assert r.status_code == 404
