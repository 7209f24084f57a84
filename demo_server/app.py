"""The demo service: a threading ``http.server`` that marshals a small record to JSON on
``/sendjson`` (GET or POST, HTTP/1.1 keep-alive) and serves /debug/pprof.

Heap sampling starts with the server, so ``/debug/pprof/heap`` has data from the first
request; CPU profiling runs only while ``/debug/pprof/profile`` is being served.
It binds to 127.0.0.1 unless ``--host`` says otherwise: the profiling endpoints show
source paths, command lines and stacks, and a long CPU profile costs the service, so they
should not be reachable from other machines by accident.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pyprofnb.http
from pyprofnb.http.handlers import DEFAULT_HEAP_RATE, start_heap_sampling
from pyprofnb.http.stdlib import send_response_once

from .launch import exit_with_parent


@dataclasses.dataclass
class User:
    name: str
    email: str
    age: int
    tags: list[str]


_JSON_HEADERS = [("Content-Type", "application/json")]


def send_json(handler: BaseHTTPRequestHandler) -> None:
    """GET or POST /sendjson: a small record marshalled to JSON."""
    user = User(name="Bill", email="bill@ardanlabs.com", age=45, tags=["gopher", "pythonista"])
    body = json.dumps(dataclasses.asdict(user)).encode()
    send_response_once(handler, 200, _JSON_HEADERS, body)


def not_found(handler: BaseHTTPRequestHandler) -> None:
    send_response_once(handler, 404, [("Content-Type", "text/plain; charset=utf-8")], b"404 page not found\n")


ROUTES = {"/sendjson": send_json}


class DemoHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    disable_nagle_algorithm = True  # TCP_NODELAY; see send_response_once for the other half
    server_version = "demo_server"

    def _route(self) -> None:
        self._skip_body()
        ROUTES.get(urlsplit(self.path).path, not_found)(self)

    def _skip_body(self) -> None:
        """Keep the connection in step with the client without holding its body: a POST's
        body (hey -d) is read and dropped in small chunks; a body on a GET or HEAD, or one
        we cannot delimit (chunked), is not read at all and the connection closes after the
        answer."""
        length = self.headers.get("Content-Length", "").strip()
        if self.headers.get("Transfer-Encoding") or (length and not (length.isascii() and length.isdigit())):
            self.close_connection = True
            return
        remaining = int(length) if length else 0
        if remaining and self.command != "POST":
            self.close_connection = True
            return
        while remaining > 0:
            chunk = self.rfile.read(min(remaining, 64 * 1024))
            if not chunk:
                self.close_connection = True
                return
            remaining -= len(chunk)

    do_GET = do_POST = do_HEAD = _route

    def log_message(self, format, *args):  # one line per request would cost more than the request
        pass


pyprofnb.http.enable(DemoHandler, heap_rate=None)  # /debug/pprof/*; `serve` starts heap sampling


class DemoServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


def serve(host: str = "127.0.0.1", port: int = 4000, heap_rate: int | None = DEFAULT_HEAP_RATE) -> DemoServer:
    """The server, bound but not yet serving; heap sampling starts now unless ``heap_rate``
    is None or 0."""
    server = DemoServer((host, port), DemoHandler)
    if heap_rate:
        start_heap_sampling(heap_rate)
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo_server", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: local only)")
    parser.add_argument("--port", type=int, default=4000, help="port (default 4000; 0 picks a free one)")
    parser.add_argument("--heap-rate", type=int, default=DEFAULT_HEAP_RATE,
                        help=f"mean bytes between heap samples (default {DEFAULT_HEAP_RATE}; 0 turns sampling off)")
    args = parser.parse_args(argv)
    try:
        server = serve(args.host, args.port, args.heap_rate)
    except OSError as exc:
        print(f"demo_server: cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr)
        return 1
    host, port = server.server_address[:2]
    exit_with_parent()  # started by demo_server.launch: do not outlive the notebook or test
    print(f"listening on http://{host}:{port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
