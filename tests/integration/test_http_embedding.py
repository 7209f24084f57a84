"""The three ways into a service: the stdlib hook, the background debug server, WSGI."""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest
import requests

import pyprofnb.http
from pyprofnb.http.wsgi import PprofMiddleware
from pyprofnb.codec.proto import decode


@pytest.fixture
def serve():
    servers = []

    def start(server):
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        host, port = server.server_address[:2]
        return f"http://{host}:{port}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def check_routes(base):
    assert "full goroutine stack dump" in requests.get(base + "/debug/pprof/", timeout=10).text
    prof = decode(requests.get(base + "/debug/pprof/goroutine", timeout=10).content)
    assert [str(t) for t in prof.sample_types] == ["goroutine/count"]
    r = requests.get(base + "/debug/pprof/nope", timeout=10)
    assert (r.status_code, r.text, r.headers["X-Go-Pprof"]) == (404, "Unknown profile\n", "1")
    assert requests.post(base + "/debug/pprof/symbol", data="0x1", timeout=10).text == "num_symbols: 1\n"


def test_enable_on_a_stdlib_handler(serve):
    from pyprofnb.collect import heap

    was_running = heap.available() and heap.running()

    @pyprofnb.http.enable
    class Hello(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "5")
            self.end_headers()
            self.wfile.write(b"hello")

        def log_message(self, *args):
            pass

    try:
        base = serve(ThreadingHTTPServer(("127.0.0.1", 0), Hello))
        assert requests.get(base + "/", timeout=10).text == "hello"  # the app's own routes still work
        assert requests.post(base + "/", timeout=10).status_code == 501  # as without the hook
        check_routes(base)
    finally:
        # enable() started heap sampling (as Go samples from the start); later tests in this
        # process start their own.
        if heap.available() and heap.running() and not was_running:
            heap.stop()


def test_background_debug_server():
    server = pyprofnb.http.start_debug_server("127.0.0.1:0", heap_rate=None)
    try:
        assert server.url.startswith("http://127.0.0.1:")
        check_routes(server.url)
        assert requests.get(server.url + "/other", timeout=10).status_code == 404
        wall = decode(requests.get(server.url + "/debug/pprof/wall?seconds=1", timeout=10).content)
        assert "pyprofnb-debug-server" in {v for k, v in zip(wall.label_key, wall.label_str) if k == "thread"}
    finally:
        server.shutdown()
        server.server_close()


class _QuietWSGIHandler(WSGIRequestHandler):
    def log_message(self, *args):
        pass


def test_wsgi_middleware(serve):
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"app:" + environ["PATH_INFO"].encode()]

    server = make_server("127.0.0.1", 0, PprofMiddleware(app, heap_rate=None), handler_class=_QuietWSGIHandler)
    base = serve(server)
    assert requests.get(base + "/hello", timeout=10).text == "app:/hello"
    check_routes(base)
    r = requests.get(base + "/debug/pprof/heap?seconds=x", timeout=10)
    assert r.status_code == 400 and r.headers["X-Go-Pprof"] == "1"


def test_handle_is_framework_neutral():
    status, headers, body = pyprofnb.http.handle("GET", "/debug/pprof/cmdline")
    assert status == 200 and ("X-Content-Type-Options", "nosniff") in headers and body
    gone = pyprofnb.http.handle("GET", "/debug/pprof/wall", "seconds=5", is_disconnected=lambda: True)
    assert gone is None  # the client left: no answer, the sampler stopped
