"""WSGI middleware: /debug/pprof for Flask, Django or any WSGI app.

>>> app.wsgi_app = PprofMiddleware(app.wsgi_app)                 # Flask
>>> application = PprofMiddleware(get_wsgi_application())        # Django wsgi.py

WSGI gives the application no view of the socket, so a client that disconnects during a
timed profile is not noticed here: the profile runs to its end (at most
`handlers.MAX_SECONDS`) and the answer is discarded by the server.
"""
from __future__ import annotations

from .handlers import (
    DEFAULT_HEAP_RATE, MAX_BODY_BYTES, handle, host_forbidden, is_loopback, is_pprof_path, reads_body,
    prepare,
)


class PprofMiddleware:
    """Answers /debug/pprof/* itself and passes every other request to ``app``.

    WSGI does not tell which address the server is bound to, so the DNS-rebinding check
    (see `pyprofnb.http.handlers`) applies to requests that come from a loopback peer:
    their ``Host`` must name a loopback address, or be one of ``allowed_hosts`` (a local
    reverse proxy that forwards the public host name needs it listed).
    """

    def __init__(self, app, *, heap_rate: int | None = DEFAULT_HEAP_RATE, allowed_hosts=()):
        self.app = app
        self.allowed_hosts = tuple(allowed_hosts)
        prepare(heap_rate)

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "") or "/"
        if not is_pprof_path(path):
            return self.app(environ, start_response)
        method = environ.get("REQUEST_METHOD", "GET")
        body = b""
        length = (environ.get("CONTENT_LENGTH") or "").strip()
        if reads_body(method, path) and length.isascii() and length.isdigit() and int(length) > 0:
            # Never more than the limit: the server discards (or closes on) the rest.
            body = environ["wsgi.input"].read(int(length)) if int(length) <= MAX_BODY_BYTES else None
        response = None
        if is_loopback(environ.get("REMOTE_ADDR", "")):
            response = host_forbidden(environ.get("HTTP_HOST"), self.allowed_hosts)
        if response is None:
            response = handle(method, path, environ.get("QUERY_STRING", ""), body)
        assert response is not None  # only a disconnect gives None, and WSGI cannot see one
        start_response(f"{response.status} {response.reason}", response.headers + [
            ("Content-Length", str(len(response.body)))])
        return [b"" if method == "HEAD" else response.body]


__all__ = ["PprofMiddleware"]
