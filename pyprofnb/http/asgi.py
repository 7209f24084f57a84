"""ASGI 3 middleware: /debug/pprof for Starlette, FastAPI or any ASGI app, no framework needed.

>>> app = PprofMiddleware(app)                      # any ASGI 3 app
>>> app.add_middleware(PprofMiddleware)             # Starlette / FastAPI

Every answer comes from the same `handlers.handle` as the stdlib and WSGI hooks. It runs in
a thread of its own, not on the event loop: a ``profile?seconds=30`` sleeps for 30 s and a
heap profile takes a moment to build, and neither may stall the other requests the loop is
serving (the CPU profile would then show a service doing nothing). While it runs, the
middleware listens for the client's ``http.disconnect``; a client that goes away ends a
timed profile early, as in Go.
"""
from __future__ import annotations

import asyncio
import threading

from .handlers import (
    DEFAULT_HEAP_RATE, MAX_BODY_BYTES, Response, handle, host_forbidden, is_loopback, is_pprof_path, prepare,
    reads_body,
)


class PprofMiddleware:
    """Answers /debug/pprof/* itself and passes every other request (and the lifespan and
    websocket scopes) to ``app``.

    As for WSGI, the DNS-rebinding check (see `pyprofnb.http.handlers`) applies to requests
    from a loopback peer: their ``Host`` must name a loopback address or one of
    ``allowed_hosts``.
    """

    def __init__(self, app, *, heap_rate: int | None = DEFAULT_HEAP_RATE, allowed_hosts=()):
        self.app = app
        self.allowed_hosts = tuple(allowed_hosts)
        prepare(heap_rate)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not is_pprof_path(scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        method = scope.get("method", "GET")
        path = scope["path"]
        body = await _read_body(receive) if reads_body(method, path) else b""
        client = scope.get("client") or ("", 0)
        if is_loopback(client[0] or ""):
            host = next((v.decode("latin-1") for k, v in scope.get("headers", ()) if k == b"host"), None)
            refused = host_forbidden(host, self.allowed_hosts)
            if refused is not None:
                await _send(send, refused, head_only=method == "HEAD")
                return
        gone = threading.Event()
        watcher = asyncio.ensure_future(_watch_disconnect(receive, gone))
        try:
            response = await _in_thread(
                handle, method, path, scope.get("query_string", b"").decode("latin-1"), body, gone.is_set)
        finally:
            watcher.cancel()
        if response is None:  # the client left mid-profile: nobody to answer
            return
        await _send(send, response, head_only=method == "HEAD")


async def _read_body(receive) -> bytes | None:
    """The request body, or None once it passes `MAX_BODY_BYTES` (the rest is not read)."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _watch_disconnect(receive, gone: threading.Event) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            gone.set()
            return


async def _in_thread(func, *args):
    """Run ``func(*args)`` in a new daemon thread and await it. A thread per request rather
    than the loop's default executor: that pool is shared with the app (and small), and a
    few 30-second profiles must not starve the app's own ``run_in_executor`` calls."""
    loop = asyncio.get_running_loop()
    future = loop.create_future()

    def run():
        try:
            result = func(*args)
        except BaseException as exc:  # noqa: BLE001  (handed to the awaiting coroutine)
            loop.call_soon_threadsafe(_settle, future, None, exc)
        else:
            loop.call_soon_threadsafe(_settle, future, result, None)

    threading.Thread(target=run, name="pyprofnb-asgi-request", daemon=True).start()
    return await future


def _settle(future, result, exc) -> None:
    if future.cancelled():
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)


async def _send(send, response: Response, *, head_only: bool) -> None:
    headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in response.headers]
    headers.append((b"content-length", str(len(response.body)).encode()))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head_only else response.body})


__all__ = ["PprofMiddleware"]
