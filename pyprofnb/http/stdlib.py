"""The endpoints on Python's own ``http.server``: a one-line hook for an existing handler
class, and a background debug server for any process.

>>> @pyprofnb.http.enable                   # or pyprofnb.http.enable(MyHandler)
... class MyHandler(BaseHTTPRequestHandler): ...

>>> pyprofnb.http.start_debug_server("127.0.0.1:6060")   # like Go's go http.ListenAndServe
"""
from __future__ import annotations

import email.utils
import select
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from ..collect import paused
from .handlers import (
    DEFAULT_HEAP_RATE, MAX_BODY_BYTES, Response, handle, host_forbidden, is_loopback, is_pprof_path, reads_body,
    prepare,
)

# Methods hooked on an enabled handler class, so /debug/pprof answers each of them itself
# (405 with Allow) instead of http.server's 501 HTML page.
HOOKED_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "CONNECT")

_REASONS = {code: message for code, (message, _) in BaseHTTPRequestHandler.responses.items()}


def send_response_once(handler: BaseHTTPRequestHandler, status: int, headers, body: bytes) -> None:
    """Write status line, headers and body in one ``write``.

    ``BaseHTTPRequestHandler`` flushes the headers and then writes the body, two small
    segments; with Nagle's algorithm on, the second waits for the client's delayed ACK
    (40 ms on Linux) and a keep-alive client stalls on every request. One write (and
    TCP_NODELAY, see `PprofRequestHandler.disable_nagle_algorithm`) avoids it.
    """
    head_only = handler.command == "HEAD"
    lines = [f"{handler.protocol_version} {status} {_REASONS.get(status, '')}",
             f"Server: {handler.version_string()}",
             f"Date: {email.utils.formatdate(usegmt=True)}"]
    lines += [f"{k}: {v}" for k, v in headers]
    lines.append(f"Content-Length: {len(body)}")
    if handler.close_connection:
        lines.append("Connection: close")
    data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    handler.wfile.write(data if head_only else data + body)


def client_disconnected(sock: socket.socket) -> bool:
    """True if the peer closed the connection (readable and EOF, or an error)."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        if not readable:
            return False
        return sock.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):
        return True


def _has_body(handler: BaseHTTPRequestHandler) -> bool:
    length = handler.headers.get("Content-Length", "")
    return bool(handler.headers.get("Transfer-Encoding")) or (length.strip() not in ("", "0"))


def _read_body(handler: BaseHTTPRequestHandler, path: str) -> bytes | None:
    """The body of POST /symbol (None when it is too large); every other body is left
    unread (a 1 GB body on a GET costs nothing) and the connection is closed after the
    answer, since the stream is no longer in step."""
    if not _has_body(handler):
        return b""
    length = handler.headers.get("Content-Length", "")
    if reads_body(handler.command, path) and length.isascii() and length.isdigit() \
            and not handler.headers.get("Transfer-Encoding"):
        if int(length) <= MAX_BODY_BYTES:
            return handler.rfile.read(int(length))
        handler.close_connection = True
        return None
    handler.close_connection = True
    return b""


def _bound_to_loopback(handler: BaseHTTPRequestHandler) -> bool:
    try:
        return is_loopback(str(handler.server.server_address[0]))
    except (AttributeError, IndexError, TypeError):
        return False


def serve_pprof(handler: BaseHTTPRequestHandler) -> None:
    """Answer the handler's current request with the /debug/pprof endpoints."""
    with paused():  # pyprofnb's own work, down to sending the reply: out of the profiles it serves
        _serve_pprof(handler)


def _serve_pprof(handler: BaseHTTPRequestHandler) -> None:
    url = urlsplit(handler.path)
    body = _read_body(handler, url.path)
    response = None
    if _bound_to_loopback(handler):
        response = host_forbidden(handler.headers.get("Host"), getattr(handler, "pprof_allowed_hosts", ()))
    if response is None:
        response = handle(handler.command, url.path, url.query, body,
                          is_disconnected=lambda: client_disconnected(handler.connection))
    if response is None:  # the client left; nobody to answer
        handler.close_connection = True
        return
    send_response_once(handler, *response)


def _hooked(method: str, original):
    def do(self):
        with paused():  # routing is pyprofnb's work too, even for the requests it passes on
            ours = is_pprof_path(urlsplit(self.path).path)
        if ours:
            serve_pprof(self)
        elif original is not None:
            original(self)
        else:
            self.send_error(501, f"Unsupported method ({method!r})")
    do.__name__ = f"do_{method}"
    do._pyprofnb_original = original
    return do


def enable(handler_class: type, *, heap_rate: int | None = DEFAULT_HEAP_RATE, allowed_hosts=()) -> type:
    """Serve /debug/pprof from ``handler_class`` (a ``BaseHTTPRequestHandler`` subclass),
    Python's ``import _ "net/http/pprof"``. Other paths reach the class's own ``do_GET``/
    ``do_POST``/``do_HEAD`` as before. Starts heap sampling (``heap_rate=None`` does not).
    On a server bound to loopback, /debug/pprof answers only loopback ``Host`` names, plus
    ``allowed_hosts``. Returns the class, so it also works as a decorator."""
    if allowed_hosts:
        handler_class.pprof_allowed_hosts = tuple(allowed_hosts)
    _install_routes(handler_class)
    prepare(heap_rate)
    return handler_class


def _install_routes(handler_class: type) -> None:
    for method in HOOKED_METHODS:
        current = getattr(handler_class, f"do_{method}", None)
        if getattr(current, "_pyprofnb_original", False) is not False:
            continue  # already enabled
        setattr(handler_class, f"do_{method}", _hooked(method, current))


class PprofRequestHandler(BaseHTTPRequestHandler):
    """A handler that serves only /debug/pprof (404 elsewhere): the debug server's."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_GET(self):
        if _has_body(self):
            self.close_connection = True  # the body is never read
        send_response_once(self, *_not_found())

    do_HEAD = do_POST = do_PUT = do_DELETE = do_OPTIONS = do_PATCH = do_TRACE = do_CONNECT = do_GET

    def __getattr__(self, name):
        # Any other method (http.server looks up do_<METHOD>): /debug/pprof answers 405
        # with Allow, other paths 404, never http.server's 501 page.
        if name.startswith("do_") and name[3:].isupper():
            return self.do_PUT
        raise AttributeError(name)

    def log_message(self, format, *args):  # a debug server should not spam stderr
        pass


def _not_found() -> Response:
    return Response(404, [("Content-Type", "text/plain; charset=utf-8"), ("X-Content-Type-Options", "nosniff")],
                    b"404 page not found\n")


_install_routes(PprofRequestHandler)  # `start_debug_server` does the rest


class DebugServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # listen backlog (http.server's 5 drops clients under load)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


def start_debug_server(address: str = "127.0.0.1:6060", *, heap_rate: int | None = DEFAULT_HEAP_RATE,
                       allowed_hosts=()) -> DebugServer:
    """Serve /debug/pprof on ``address`` ("host:port"; port 0 picks a free one) from a
    daemon thread, and start heap sampling. Returns the server (``.url``, ``.shutdown()``).

    >>> server = pyprofnb.http.start_debug_server("127.0.0.1:6060")
    >>> server.url
    'http://127.0.0.1:6060'
    """
    host, _, port = address.rpartition(":")
    handler = PprofRequestHandler
    if allowed_hosts:
        handler = type("PprofRequestHandler", (PprofRequestHandler,), {"pprof_allowed_hosts": tuple(allowed_hosts)})
    server = DebugServer((host or "127.0.0.1", int(port)), handler)
    prepare(heap_rate)
    thread = threading.Thread(target=server.serve_forever, name="pyprofnb-debug-server", daemon=True)
    thread.start()
    return server


__all__ = ["DebugServer", "PprofRequestHandler", "client_disconnected", "enable", "send_response_once",
           "serve_pprof", "start_debug_server"]
