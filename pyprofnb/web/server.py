"""``pyprofnb -http=HOST:PORT SOURCE...``: go tool pprof's web UI, served by the standard
library's threaded HTTP server (one user, a handful of requests a second: nothing a
framework would add is needed, and there is nothing to install).

URLs are Go's where Go has them: ``/ui/`` (graph), ``/ui/top``, ``/ui/flamegraph``,
``/ui/peek``, ``/ui/source``, with ``si``, ``f``, ``i``, ``h``, ``s`` in the query; the view
may also be named by ``view=``. ``/download`` sends the profile shown (profile.proto),
``POST /refresh`` fetches the sources again as a new snapshot.
"""
from __future__ import annotations

import collections
import json
import threading
import time
import webbrowser
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from ..errors import OptionError, PprofError
from ..options import ReportOptions
from ..model import Profile, diff, subtract
from ..sources import load_sources
from . import views
from .page import Snapshots, page, subtitle
from .state import ViewState

# Go's paths -> our view names.
PATHS = {"/ui/": "graph", "/ui/top": "top", "/ui/flamegraph": "flame", "/ui/flamegraph2": "flame",
         "/ui/peek": "peek", "/ui/source": "source", "/ui/graph": "graph"}
_CACHE_SIZE = 32


class Session:
    """The profiles one UI shows: snapshot 0 is what the command line loaded; "refresh" adds
    a snapshot fetched anew from the same sources; any two can be compared."""

    def __init__(self, sources, *, options: ReportOptions | None = None, load_args: dict | None = None,
                 profile: Profile | None = None):
        self.sources = list(sources)
        self.options = options or ReportOptions()
        self.load_args = dict(load_args or {})
        self.snapshots: list[tuple[Profile, str]] = []
        self._lock = threading.Lock()
        self._cache: collections.OrderedDict = collections.OrderedDict()
        self.add(profile if profile is not None else load_sources(self.sources, **self.load_args))

    @property
    def refreshable(self) -> bool:
        return any(isinstance(s, str) for s in self.sources)

    def add(self, prof: Profile) -> int:
        with self._lock:
            self.snapshots.append((prof, f"#{len(self.snapshots)} {time.strftime('%H:%M:%S')} "
                                         f"({prof.n_samples} samples)"))
            return len(self.snapshots) - 1

    def refresh(self) -> int:
        if not self.refreshable:
            raise OptionError("nothing to refresh: the profile was not loaded from a file or URL")
        return self.add(load_sources(self.sources, **self.load_args))

    def profile(self, state: ViewState) -> Profile:
        n = len(self.snapshots)
        if not 0 <= state.p < n:
            raise OptionError(f"no snapshot {state.p}; this session has 0..{n - 1}")
        prof = self.snapshots[state.p][0]
        if state.base < 0 or state.base == state.p:
            return prof
        if state.base >= n:
            raise OptionError(f"no snapshot {state.base} to compare with; this session has 0..{n - 1}")
        base = self.snapshots[state.base][0]
        return diff(prof, base) if state.mode == "diff_base" else subtract(prof, base)

    def fragment(self, state: ViewState) -> str:
        """The view's fragment, cached per state (views do not depend on zoom/search/sort)."""
        key = state.replace(zoom=0, q="", ts="").query()
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        try:
            text = views.render_view(self.profile(state), state, self.options)
        except PprofError as exc:
            text = views.error_fragment(exc)
        with self._lock:
            self._cache[key] = text
            while len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
        return text

    def title(self) -> str:
        names = [s if isinstance(s, str) else "profile" for s in self.sources] or ["profile"]
        return "pyprofnb: " + " ".join(names)


def resolve_sample(prof: Profile, state: ViewState, options: ReportOptions) -> ViewState:
    """``state`` with ``si`` naming a sample type of ``prof`` (numbers and defaults resolved)."""
    try:
        index = prof.sample_type_index(state.si or options.sample_index or None)
    except PprofError:
        index = prof.sample_type_index()
    return state.replace(si=prof.sample_types[index].type)


def render_page(session: Session, state: ViewState, path: str = "/ui/") -> str:
    prof = session.profile(state)
    state = resolve_sample(prof, state, session.options)
    note = ""
    if 0 <= state.base != state.p:
        note = f"{'compared with' if state.mode == 'diff_base' else 'minus'} snapshot #{state.base}"
    snaps = Snapshots(items=[(i, d) for i, (_, d) in enumerate(session.snapshots)], refreshable=session.refreshable)
    return page({(state.view, state.si): session.fragment(state)}, state, mode="server",
                sample_types=views.sample_types(prof), title=session.title(), subtitle=subtitle(prof, state, note),
                path=path, snapshots=snaps, source=" ".join(s for s in session.sources if isinstance(s, str)),
                download="/download?" + state.query())


class Handler(BaseHTTPRequestHandler):
    server: "WebServer"
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet, as go tool pprof's server is
        pass

    def _send(self, status: int, body: bytes, content_type: str, extra: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self):  # noqa: N802
        self.do_GET()

    def do_GET(self):  # noqa: N802
        url = urlsplit(self.path)
        session = self.server.session
        if url.path in ("/", "/ui"):
            self._send(302, b"", "text/plain", {"Location": "/ui/" + (f"?{url.query}" if url.query else "")})
            return
        if url.path == "/favicon.ico":
            self._send(204, b"", "image/x-icon")
            return
        if url.path == "/download":
            try:
                state = ViewState.from_query(url.query)
                data = session.profile(state).to_bytes()
            except PprofError as exc:
                self._send(400, str(exc).encode(), "text/plain; charset=utf-8")
                return
            self._send(200, data, "application/octet-stream",
                       {"Content-Disposition": 'attachment; filename="profile.pb.gz"'})
            return
        view = PATHS.get(url.path)
        if view is None:
            self._send(404, f"404 page not found: {url.path}\n".encode(), "text/plain; charset=utf-8")
            return
        try:
            state = ViewState.from_query(url.query, view=view)
            body, status = render_page(session, state), 200
        except PprofError as exc:
            body = page({("top", ""): views.error_fragment(exc)}, ViewState(view="top"), mode="server",
                        sample_types=[], title=session.title())
            status = 400
        self._send(status, body.encode("utf-8"), "text/html; charset=utf-8")

    def do_POST(self):  # noqa: N802
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        if url.path != "/refresh":
            self._send(404, b"404 page not found\n", "text/plain")
            return
        try:
            snapshot = self.server.session.refresh()
            answer = {"changes": {"p": snapshot}}
        except PprofError as exc:
            answer = {"error": str(exc)}
        self._send(200, json.dumps(answer).encode(), "application/json")


class WebServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, session: Session, host: str = "127.0.0.1", port: int = 0):
        self.session = session
        super().__init__((host, port), Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{'localhost' if host in ('127.0.0.1', '::1') else host}:{port}"


def parse_address(address: str) -> tuple[str, int]:
    """``-http`` values as Go takes them: ``HOST:PORT``, ``:PORT`` (localhost), ``HOST`` (free
    port); port 0 picks a free one."""
    host, sep, port = address.rpartition(":") if ":" in address else (address, "", "0")
    host = host.strip("[]") or "127.0.0.1"
    if host == "localhost":
        host = "127.0.0.1"
    try:
        number = int(port or 0)
    except ValueError:
        raise OptionError(f"-http must be HOST:PORT, got {address!r}") from None
    if not 0 <= number <= 65535:
        raise OptionError(f"-http port must be 0..65535, got {number}")
    return host, number


def serve(session: Session, address: str = "127.0.0.1:0", *, open_browser: bool = True, out=None,
          ready=None) -> None:
    """Serve ``session`` until interrupted; print the URL as go tool pprof does."""
    import sys

    host, port = parse_address(address)
    try:
        server = WebServer(session, host, port)
    except OSError as exc:
        raise OptionError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    print(f"Serving web UI on {server.url}", file=out or sys.stdout, flush=True)
    if ready is not None:
        ready(server)
    if open_browser:
        threading.Thread(target=webbrowser.open, args=(server.url + "/ui/",), daemon=True).start()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def session_from_command(cmd) -> Session:
    """A Session from a parsed command line (`pyprofnb.options.parse_args`)."""
    load_args = dict(seconds=cmd.seconds, timeout=cmd.timeout, base=cmd.base, diff_base=cmd.diff_base,
                     normalize=cmd.options.normalize, all_frames=cmd.all_frames)
    return Session(cmd.sources, options=cmd.options, load_args=load_args)


__all__ = ["PATHS", "Session", "WebServer", "parse_address", "render_page", "serve", "session_from_command"]
