"""Go's net/http/pprof for Python services, four ways, one set of handlers
(`pyprofnb.http.handlers.handle`):

- ``pyprofnb.http.enable(HandlerClass)``: a stdlib ``http.server`` handler gets the routes;
- ``pyprofnb.http.start_debug_server("127.0.0.1:6060")``: a background server in any process;
- ``pyprofnb.http.wsgi.PprofMiddleware(app)``: Flask, Django and other WSGI apps;
- ``pyprofnb.http.asgi.PprofMiddleware(app)``: Starlette, FastAPI and other ASGI apps.

In a worker of a pre-fork server (gunicorn, uvicorn --workers) each of them answers with
the merged profiles of all workers (`pyprofnb.http.prefork`).

See docs/endpoints.md for the endpoints.
"""
from .handlers import MAX_SECONDS, Response, handle, is_pprof_path, prepare, start_heap_sampling
from .stdlib import enable, send_response_once, start_debug_server
from .wsgi import PprofMiddleware  # the WSGI one; the ASGI one is pyprofnb.http.asgi.PprofMiddleware

__all__ = ["MAX_SECONDS", "PprofMiddleware", "Response", "enable", "handle", "is_pprof_path",
           "prepare", "send_response_once", "start_debug_server", "start_heap_sampling"]
