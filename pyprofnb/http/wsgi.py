"""WSGI middleware: /debug/pprof for Flask, Django or any WSGI app.

>>> app.wsgi_app = PprofMiddleware(app.wsgi_app)                 # Flask
>>> application = PprofMiddleware(get_wsgi_application())        # Django wsgi.py

WSGI gives the application no view of the socket, so a client that disconnects during a
timed profile is not noticed here: the profile runs to its end (at most
`handlers.MAX_SECONDS`) and the answer is discarded by the server.
"""
from __future__ import annotations

from .handlers import DEFAULT_HEAP_RATE, handle, is_pprof_path, prepare


class PprofMiddleware:
    """Answers /debug/pprof/* itself and passes every other request to ``app``."""

    def __init__(self, app, *, heap_rate: int | None = DEFAULT_HEAP_RATE):
        self.app = app
        prepare(heap_rate)

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "") or "/"
        if not is_pprof_path(path):
            return self.app(environ, start_response)
        method = environ.get("REQUEST_METHOD", "GET")
        body = b""
        length = environ.get("CONTENT_LENGTH") or ""
        if length.isdigit() and int(length) > 0:
            body = environ["wsgi.input"].read(int(length))
        response = handle(method, path, environ.get("QUERY_STRING", ""), body)
        assert response is not None  # only a disconnect gives None, and WSGI cannot see one
        start_response(f"{response.status} {response.reason}", response.headers + [
            ("Content-Length", str(len(response.body)))])
        return [b"" if method == "HEAD" else response.body]


__all__ = ["PprofMiddleware"]
