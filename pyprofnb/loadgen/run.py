"""A load generator with hey's flags and hey's summary, usable from Python and notebooks.

From a shell::

    pyprofnb loadgen -m POST -c 8 -n 100000 http://127.0.0.1:4000/sendjson

From Python (the result holds hey's figures and a DataFrame of every request)::

    res = pyprofnb.load_test("http://127.0.0.1:4000/sendjson", n=100_000, c=8, method="POST")
    print(res.summary())
    res.df.groupby("status").latency.describe()

While a profile is taken::

    with pyprofnb.load_test(url, duration="30s", c=8, background=True) as run:
        prof = pyprofnb.load("http://127.0.0.1:4000/debug/pprof/profile", seconds=10)
    run.result.rps

Requests go out from several worker processes, each driving its share of the connections
(hey's "workers") on one epoll loop with a small HTTP/1.1 client (worker.py).
As in hey, each of the c workers sends n // c requests, one at a time.
"""
from __future__ import annotations

import base64
import math
import multiprocessing
import multiprocessing.connection
import os
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

import numpy as np

from . import result as loadgen_report
from ..errors import OptionError, PprofError
from .worker import Plan, RequestSpec, Target, run_process

__all__ = ["LoadError", "LoadOptions", "LoadResult", "LoadRun", "main", "run_load"]

USER_AGENT = "pyprofnb-load/0.1 (hey-compatible)"
_MAX_INT32 = 2**31 - 1


class LoadError(PprofError):
    """A load test that could not run (a worker process failed to start or died)."""


# ---- options: one table for the command line and the Python API -------------------------

@dataclass(frozen=True)
class _Flag:
    flag: str  # as on hey's command line, without the dash
    param: str  # run_load's keyword
    kind: str  # int, float, str, duration, bool, headers
    help: str


FLAGS = (
    _Flag("n", "n", "int", "Number of requests to run. Default is 200."),
    _Flag("c", "c", "int", "Number of workers to run concurrently. Total number of requests "
          "cannot\n      be smaller than the concurrency level. Default is 50."),
    _Flag("q", "qps", "float", "Rate limit, in queries per second (QPS) per worker. Default is "
          "no rate limit."),
    _Flag("z", "duration", "duration", "Duration of application to send requests. When "
          "duration is reached,\n      application stops and exits. If duration is specified, "
          "n is ignored.\n      Examples: -z 10s -z 3m."),
    _Flag("o", "output", "str", 'Output type. If none provided, a summary is printed.\n      '
          '"csv" is the only supported alternative. Dumps the response\n      metrics in '
          'comma-separated values format.'),
    _Flag("m", "method", "str", "HTTP method, one of GET, POST, PUT, DELETE, HEAD, OPTIONS."),
    _Flag("H", "headers", "headers", "Custom HTTP header. You can specify as many as needed by "
          'repeating the flag.\n      For example, -H "Accept: text/html" -H "Content-Type: '
          'application/xml" .'),
    _Flag("t", "timeout", "float", "Timeout for each request in seconds. Default is 20, use 0 "
          "for infinite."),
    _Flag("A", "accept", "str", "HTTP Accept header."),
    _Flag("d", "body", "str", "HTTP request body."),
    _Flag("D", "body_file", "str", "HTTP request body from file. For example, "
          "/home/user/file.txt or ./file.txt."),
    _Flag("T", "content_type", "str", 'Content-type, defaults to "text/html".'),
    _Flag("U", "user_agent", "str", f'User-Agent, defaults to "{USER_AGENT}".'),
    _Flag("a", "auth", "str", "Basic authentication, username:password."),
    _Flag("x", "proxy", "str", "HTTP Proxy address as host:port."),
    _Flag("h2", "http2", "bool", "Enable HTTP/2 (not supported: use hey -h2)."),
    _Flag("host", "host", "str", "HTTP Host header."),
    _Flag("disable-compression", "disable_compression", "bool", "Disable compression."),
    _Flag("disable-keepalive", "disable_keepalive", "bool", "Disable keep-alive, prevents "
          "re-use of TCP\n                        connections between different HTTP requests."),
    _Flag("disable-redirects", "disable_redirects", "bool", "Disable following of HTTP "
          "redirects"),
    _Flag("cpus", "processes", "int", "Number of worker processes.\n                        "
          f"(default for current machine is {os.cpu_count() or 1})"),
)
_BY_FLAG = {f.flag: f for f in FLAGS}
_BY_PARAM = {f.param: f for f in FLAGS}


@dataclass
class LoadOptions:
    """A validated load test: everything hey's flags say, in run_load's words."""

    url: str
    n: int = 200
    c: int = 50
    qps: float = 0.0
    duration: float = 0.0
    output: str = ""
    method: str = "GET"
    headers: list = field(default_factory=list)  # [(name, value)]
    timeout: float = 20.0
    accept: str = ""
    body: bytes = b""
    body_file: str = ""
    content_type: str = "text/html"
    user_agent: str = ""
    auth: str = ""
    proxy: str = ""
    http2: bool = False
    host: str = ""
    disable_compression: bool = False
    disable_keepalive: bool = False
    disable_redirects: bool = False
    processes: int = 0

    @classmethod
    def build(cls, url, cli: bool = False, **kw) -> "LoadOptions":
        """Check and normalise; raise OptionError naming the flag (or keyword) at fault."""
        name = (lambda p: "-" + _BY_PARAM[p].flag) if cli else (lambda p: p)

        def bad(p, expected, got):
            raise OptionError(f"{name(p)} must be {expected}, got {got!r}")

        opts = cls(url=url)
        for k, v in kw.items():
            if v is None:
                continue
            setattr(opts, k, v)
        if not isinstance(opts.url, str) or not opts.url:
            raise OptionError(f"URL must be an http:// URL, got {opts.url!r}")
        parts = urlsplit(opts.url)
        if parts.scheme == "https":
            raise OptionError(f"https URLs are not supported (only http://), got {opts.url!r}")
        if parts.scheme != "http" or not parts.hostname:
            raise OptionError(f"URL must be an http:// URL with a host, got {opts.url!r}")
        try:
            parts.port
        except ValueError:
            raise OptionError(f"URL has a bad port, got {opts.url!r}") from None
        for p in ("n", "c", "processes"):
            v = getattr(opts, p)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                bad(p, "an integer", v)
        for p in ("qps", "timeout"):
            v = getattr(opts, p)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                bad(p, "a number >= 0", v)
        if isinstance(opts.duration, str):
            opts.duration = parse_duration(opts.duration, name("duration"))
        if isinstance(opts.duration, bool) or not isinstance(opts.duration, (int, float)) \
                or not math.isfinite(opts.duration) or opts.duration < 0:
            bad("duration", "a duration such as 10s or 2m", opts.duration)
        if opts.duration > 0:
            if opts.c < 1:
                raise OptionError(f"{name('c')} cannot be smaller than 1, got {opts.c}")
        else:
            if opts.n < 1 or opts.c < 1:
                raise OptionError(f"{name('n')} and {name('c')} cannot be smaller than 1, "
                                  f"got {opts.n} and {opts.c}")
            if opts.n < opts.c:
                raise OptionError(f"{name('n')} ({opts.n}) cannot be less than "
                                  f"{name('c')} ({opts.c})")
        if opts.processes < 0:
            bad("processes", "a positive integer", opts.processes)
        if opts.output not in ("", "csv"):
            bad("output", '"csv" (or nothing, for the summary)', opts.output)
        if opts.http2:
            raise OptionError(f"{name('http2')}: HTTP/2 is not supported by pyprofnb loadgen; "
                              "use hey -h2")
        if not isinstance(opts.method, str) or not re.fullmatch(r"[A-Za-z]+", opts.method):
            bad("method", "an HTTP method such as GET or POST", opts.method)
        opts.method = opts.method.upper()
        opts.headers = _parse_headers(opts.headers, name("headers"))
        if opts.auth:
            if isinstance(opts.auth, (tuple, list)) and len(opts.auth) == 2:
                opts.auth = f"{opts.auth[0]}:{opts.auth[1]}"
            if not isinstance(opts.auth, str) or not re.match(r"^(.+):([^\s].+)", opts.auth):
                bad("auth", "username:password", opts.auth)
        if isinstance(opts.body, str):
            opts.body = opts.body.encode()
        if not isinstance(opts.body, (bytes, bytearray)):
            bad("body", "str or bytes", opts.body)
        if opts.body_file:
            try:
                with open(opts.body_file, "rb") as f:
                    opts.body = f.read()
            except OSError as e:
                raise OptionError(f"{name('body_file')}: cannot read {opts.body_file!r}: "
                                  f"{e.strerror}") from None
        if opts.proxy:
            m = re.fullmatch(r"(?:http://)?\[?([^\]/]+?)\]?:(\d+)/?", opts.proxy)
            if not m:
                bad("proxy", "host:port", opts.proxy)
        return opts

    def request_spec(self) -> RequestSpec:
        headers: dict[str, tuple[str, str]] = {}  # canonical name -> (name, value), as http.Header.Set

        def put(k, v):
            headers[k.lower()] = (_canonical(k), v)

        put("Content-Type", self.content_type)
        for k, v in self.headers:
            put(k, v)
        if self.accept:
            put("Accept", self.accept)
        ua = headers.get("user-agent", (None, ""))[1]
        put("User-Agent", f"{ua} {USER_AGENT}" if ua else USER_AGENT)
        if self.user_agent:
            put("User-Agent", f"{self.user_agent} {USER_AGENT}")
        userinfo = urlsplit(self.url)
        if self.auth:
            token = base64.b64encode(self.auth.encode()).decode()
            put("Authorization", f"Basic {token}")
        elif userinfo.username is not None and "authorization" not in headers:
            # as Go's client does with http://user:pass@host/
            token = base64.b64encode(
                f"{unquote(userinfo.username)}:{unquote(userinfo.password or '')}".encode())
            put("Authorization", f"Basic {token.decode()}")
        implicit_gzip = False
        if not self.disable_compression and "accept-encoding" not in headers \
                and "range" not in headers and self.method != "HEAD":
            put("Accept-Encoding", "gzip")  # what Go's transport adds, and then undoes
            implicit_gzip = True
        proxy = None
        if self.proxy:
            m = re.fullmatch(r"(?:http://)?\[?([^\]/]+?)\]?:(\d+)/?", self.proxy)
            proxy = (m.group(1), int(m.group(2)))
        host = headers.pop("host", (None, self.host))[1] or self.host or None
        return RequestSpec(url=self.url, method=self.method, headers=list(headers.values()),
                           body=bytes(self.body), host_header=host, proxy=proxy,
                           keepalive=not self.disable_keepalive, implicit_gzip=implicit_gzip)

    @property
    def per_worker(self) -> int:
        return (_MAX_INT32 if self.duration > 0 else self.n) // self.c

    @property
    def expected(self) -> int | None:
        return None if self.duration > 0 else self.per_worker * self.c


def _canonical(name: str) -> str:
    return "-".join(p[:1].upper() + p[1:].lower() for p in name.split("-"))


def _parse_headers(headers, label: str) -> list:
    if not headers:
        return []
    if isinstance(headers, dict):
        items = list(headers.items())
    elif isinstance(headers, str):
        items = [headers]
    else:
        items = list(headers)
    out = []
    for h in items:
        if isinstance(h, str):
            m = re.match(r"^([\w-]+):\s*(.+)", h)
            if not m:
                raise OptionError(f"{label} must be 'Name: value', got {h!r}")
            out.append((m.group(1), m.group(2)))
        elif isinstance(h, (tuple, list)) and len(h) == 2 and re.fullmatch(r"[\w-]+", str(h[0])):
            out.append((str(h[0]), str(h[1])))
        else:
            raise OptionError(f"{label} must be 'Name: value' or (name, value), got {h!r}")
        if "\r" in out[-1][1] or "\n" in out[-1][1]:
            raise OptionError(f"{label} values cannot contain line breaks, got {h!r}")
    return out


_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0,
                   "m": 60.0, "h": 3600.0}


def parse_duration(text: str, label: str = "duration") -> float:
    """Go's time.ParseDuration ("10s", "1m30s", "250ms"), in seconds."""
    parts = re.findall(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)", text)
    if not text or "".join(a + b for a, b in parts) != text:
        raise OptionError(f"{label} must be a duration such as 10s, 1m or 1m30s, got {text!r}")
    return sum(float(a) * _DURATION_UNITS[b] for a, b in parts)


# ---- the command line ---------------------------------------------------------------------

def usage() -> str:
    lines = ["Usage: pyprofnb loadgen [options...] <url>", "", "Options:"]
    for f in FLAGS:  # laid out as hey's usage is
        if len(f.flag) <= 2:
            pad = " " * (3 - len(f.flag))
        elif f.flag == "host":
            pad = "\t"
        else:
            pad = " " * max(2, 21 - len(f.flag))
        lines.append(f"  -{f.flag}{pad}{f.help}")
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str]) -> LoadOptions:
    """hey's flags (Go flag syntax: -n 10, -n=10, --n 10; flags may follow the URL too)."""
    kw: dict = {}
    urls = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg == "--":
            urls += argv[i:]
            break
        if not arg.startswith("-") or arg == "-":
            urls.append(arg)
            continue
        name, eq, value = arg.lstrip("-").partition("=")
        f = _BY_FLAG.get(name)
        if name == "h" and not eq:
            raise OptionError("-h is hey's deprecated header flag: use -H 'Name: value' "
                              "(and --help for help)")
        if f is None:
            raise OptionError(f"flag provided but not defined: -{name} (see pyprofnb loadgen --help)")
        if f.kind == "bool":
            if eq and value.lower() not in ("1", "0", "t", "f", "true", "false"):
                raise OptionError(f"-{name} is a switch: give it alone or as -{name}=true, "
                                  f"got {value!r}")
            kw[f.param] = not eq or value.lower() in ("1", "t", "true")
            continue
        if not eq:
            if i >= len(argv):
                raise OptionError(f"-{name} needs a value ({f.kind})")
            value = argv[i]
            i += 1
        kw[f.param] = _convert(f, value, kw)
    if not urls:
        raise OptionError("missing URL: pyprofnb loadgen [options...] <url>")
    if len(urls) > 1:
        raise OptionError(f"expected one URL, got {len(urls)}: {' '.join(urls)}")
    return LoadOptions.build(urls[0], cli=True, **kw)


def _convert(f: _Flag, value: str, kw: dict):
    if f.kind == "int":
        if not re.fullmatch(r"[+-]?\d+", value.strip()):
            raise OptionError(f"-{f.flag} must be an integer, got {value!r}")
        return int(value)
    if f.kind == "float":
        try:
            v = float(value)
        except ValueError:
            raise OptionError(f"-{f.flag} must be a number, got {value!r}") from None
        if not math.isfinite(v) or v < 0:
            raise OptionError(f"-{f.flag} must be a number >= 0, got {value!r}")
        return v
    if f.kind == "duration":
        return parse_duration(value, "-" + f.flag)
    if f.kind == "headers":
        return [*kw.get(f.param, []), value]
    return value


def main(argv: list[str] | None = None) -> int:
    """`pyprofnb loadgen [hey's flags] URL`: run, print hey's summary (or csv) on stdout."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if any(a in ("-help", "--help", "-?") for a in argv) or not argv:
        sys.stderr.write(usage())
        return 0 if argv else 2
    try:
        opts = parse_args(argv)
    except OptionError as e:
        sys.stderr.write(f"pyprofnb loadgen: {e}\n")
        return 2
    try:
        run = LoadRun(opts, progress=None, background=False)
        result = run.wait()
    except LoadError as e:
        sys.stderr.write(f"pyprofnb loadgen: {e}\n")
        return 1
    sys.stdout.write(result.csv() if opts.output == "csv" else result.summary())
    sys.stdout.flush()
    return 0


# ---- running ----------------------------------------------------------------------------

def run_load(url: str, n: int = 200, c: int = 50, method: str = "GET", *,
             headers=None, body=None, body_file=None, content_type: str = "text/html",
             accept=None, user_agent=None, auth=None, host=None, timeout: float = 20.0,
             qps: float = 0.0, duration=None, disable_keepalive: bool = False,
             disable_compression: bool = False, disable_redirects: bool = False,
             proxy=None, processes: int | None = None, progress: bool | None = None,
             background: bool = False):
    """Put load on url the way `hey` does; return a LoadResult (or, with background=True,
    a LoadRun already running: `.wait()`, `.done`, `.stop()`, `.result`).

    Keywords are hey's flags: n (-n), c (-c), method (-m), headers (-H: dict, list of
    "Name: value" or pairs), body (-d, str or bytes), body_file (-D), content_type (-T),
    accept (-A), user_agent (-U), auth (-a, "user:pass" or a pair), host (-host),
    timeout (-t seconds, 0 = none), qps (-q, per worker), duration (-z: seconds or "30s";
    n is then ignored), disable_keepalive, disable_compression, disable_redirects, proxy (-x),
    processes (-cpus; default: one per CPU, at most c). progress: a bar on a terminal's
    stderr or a widget in a notebook (default: whichever applies; off in the background
    outside notebooks).

    >>> res = run_load("http://127.0.0.1:4000/sendjson", n=1000, c=8, method="POST")
    >>> res.status_codes
    {200: 1000}
    >>> res.df.latency.quantile(0.99)  # seconds
    """
    if isinstance(duration, (int, float)) and not isinstance(duration, bool) and duration:
        duration = float(duration)
    opts = LoadOptions.build(
        url, n=n, c=c, method=method, headers=headers, body=body, body_file=body_file,
        content_type=content_type, accept=accept, user_agent=user_agent, auth=auth, host=host,
        timeout=timeout, qps=qps, duration=duration, disable_keepalive=disable_keepalive,
        disable_compression=disable_compression, disable_redirects=disable_redirects,
        proxy=proxy, processes=processes)
    run = LoadRun(opts, progress=progress, background=background)
    return run if background else run.wait()


def _context():
    # fork starts workers in milliseconds; where threads run (a notebook kernel, a
    # profiler's threads) a forked child could inherit a held lock, so fork them from
    # the single-threaded fork server instead (it starts once, the workers' module loaded).
    methods = multiprocessing.get_all_start_methods()
    if threading.active_count() == 1 and "fork" in methods:
        return multiprocessing.get_context("fork")
    if "forkserver" in methods:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["pyprofnb.loadgen.worker"])
        return ctx
    return multiprocessing.get_context("spawn")


class LoadRun:
    """A load test in progress. Made by run_load (or `pyprofnb loadgen`)."""

    def __init__(self, opts: LoadOptions, progress: bool | None = None, background: bool = False):
        self.opts = opts
        self._result: LoadResult | None = None
        self._error: BaseException | None = None
        self._finished = threading.Event()
        conns = opts.c
        nproc = opts.processes or min(os.cpu_count() or 1, conns)
        nproc = max(1, min(nproc, conns))
        spec = opts.request_spec()
        Target.build(spec, spec.url, spec.method, spec.body)  # fail here, not in a child
        plans, first = [], 0
        for i in range(nproc):
            k = conns // nproc + (1 if i < conns % nproc else 0)
            plans.append(Plan(spec=spec, conns=k, per_conn=opts.per_worker, qps=opts.qps,
                              timeout=opts.timeout, duration=opts.duration,
                              follow_redirects=not opts.disable_redirects, first_conn_id=first))
            first += k
        self._bar = _make_progress(progress, background, opts)
        ctx = _context()
        self._stop_flag = ctx.RawValue("b", 0)
        self._progress = ctx.RawArray("q", nproc)
        self._start = ctx.RawValue("d", 0.0)
        ready = ctx.Semaphore(0)
        go = ctx.Event()
        self._procs, self._pipes = [], []
        try:
            for i, plan in enumerate(plans):
                r, w = ctx.Pipe(duplex=False)
                p = ctx.Process(target=run_process, name=f"pyprofnb-load-{i}", daemon=True,
                                args=(plan, i, self._progress, self._stop_flag, self._start,
                                      ready, go, w))
                p.start()
                w.close()
                self._procs.append(p)
                self._pipes.append(r)
            deadline = time.monotonic() + 60
            for p in self._procs:
                while not ready.acquire(timeout=0.2):
                    dead = [q for q in self._procs if q.exitcode is not None]
                    if dead or time.monotonic() > deadline:
                        raise LoadError(self._child_failure(dead))
        except BaseException:
            self._kill()
            raise
        self._start.value = self.t0 = time.perf_counter()
        self.started_at = time.time()
        go.set()
        if background:
            self._thread = threading.Thread(target=self._collect_safely, name="pyprofnb-load",
                                            daemon=True)
            self._thread.start()
        else:
            self._thread = None

    # -- public handle
    @property
    def done(self) -> bool:
        return self._finished.is_set()

    @property
    def completed(self) -> int:
        """Requests finished so far."""
        return int(sum(self._progress))

    def stop(self) -> "LoadResult":
        """End the run early (requests in flight finish) and return its result."""
        self._stop_flag.value = 1
        return self.wait()

    def wait(self, timeout: float | None = None) -> "LoadResult":
        """Block until the run ends; its LoadResult."""
        if self._thread is None and not self._finished.is_set():
            self._collect_safely(interruptible=True)
        if not self._finished.wait(timeout):
            raise TimeoutError(f"load test still running after {timeout} s")
        if self._error is not None:
            raise self._error
        return self._result

    @property
    def result(self) -> "LoadResult | None":
        return self._result if self.done else None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def __repr__(self):
        state = "done" if self.done else "running"
        return f"<LoadRun {self.opts.method} {self.opts.url} {state}, {self.completed} requests>"

    # -- collecting results
    def _collect_safely(self, interruptible: bool = False):
        try:
            self._result = self._collect(interruptible)
        except BaseException as e:  # surfaces in wait()
            self._error = e if isinstance(e, PprofError) else LoadError(f"load test failed: {e!r}")
            self._kill()
        finally:
            if self._bar is not None:
                self._bar.close(self.completed)
            self._finished.set()

    def _collect(self, interruptible: bool) -> "LoadResult":
        pending = dict(zip(self._pipes, range(len(self._pipes))))
        records = [None] * len(self._pipes)
        while pending:
            try:
                ready = multiprocessing.connection.wait(list(pending), timeout=0.2)
                for r in ready:
                    i = pending.pop(r)
                    try:
                        kind, payload = r.recv()
                    except (EOFError, OSError):
                        self._procs[i].join(1)
                        raise LoadError(self._child_failure([self._procs[i]])) from None
                    if kind != "ok":
                        raise LoadError(f"load worker {i} failed: {payload.strip()}")
                    records[i] = payload
                if self._bar is not None:
                    self._bar.update(self.completed, time.perf_counter() - self.t0)
            except KeyboardInterrupt:
                if not interruptible:
                    raise
                self._stop_flag.value = 1  # like hey: Ctrl-C ends the run, the summary follows
        for p in self._procs:
            p.join(5)
        end = max(rec.end for rec in records)
        return LoadResult._from_records(self.opts, records, end - self.t0, self.started_at)

    def _child_failure(self, dead) -> str:
        if dead:
            return (f"load worker process {dead[0].name} exited with code {dead[0].exitcode} "
                    "before finishing")
        return "load worker processes did not start within 60 s"

    def _kill(self):
        self._stop_flag.value = 1
        for p in self._procs:
            if p.is_alive():
                p.join(0.5)
            if p.is_alive():
                p.kill()


_COLUMNS = ("start", "latency", "status", "bytes", "content_length", "error", "dns_dialup",
            "dns_lookup", "req_write", "resp_wait", "resp_read", "connection")


class LoadResult:
    """What a load test measured: hey's figures as attributes, hey's text from summary()
    and csv(), and every request as a row of `df`.

    Attributes: requests (all, errors included), responses, errors (count), total (s),
    rps, fastest/slowest/average (s, responses only), status_codes {code: count},
    error_distribution {reason: count}, total_bytes, bytes_per_request,
    percentiles {10: s, 25: s, ...}.
    """

    def __init__(self, opts: LoadOptions, cols: dict, errors: list[str], total: float,
                 started_at: float = 0.0):
        self.options = opts
        self.url = opts.url
        self.method = opts.method
        self.columns = cols  # NumPy arrays, one per request, ordered by start
        self.error_reasons = errors
        self.started_at = started_at
        st = self.stats = loadgen_report.compute(cols, errors, total)
        self.total = st.total
        self.requests = st.count
        self.rps = st.rps
        self.fastest, self.slowest, self.average = st.fastest, st.slowest, st.average
        self.status_codes = dict(st.status_codes)
        self.error_distribution = dict(st.errors)
        self.errors = sum(st.errors.values())
        self.responses = self.requests - self.errors
        self.total_bytes = st.size_total
        self.bytes_per_request = st.size_per_request
        self.percentiles = {p: lat for p, lat in st.percentiles if p}
        self._df = None

    @classmethod
    def _from_records(cls, opts, records, total, started_at):
        errors: list[str] = []
        index: dict[str, int] = {}
        parts = {k: [] for k in _COLUMNS}
        for rec in records:
            remap = np.array([index.setdefault(e, len(index)) for e in rec.errors] or [0],
                             dtype=np.int32)
            err = np.frombuffer(rec.error, dtype=np.int32) if len(rec.error) else np.zeros(0, np.int32)
            parts["error"].append(np.where(err >= 0, remap[np.maximum(err, 0)], -1).astype(np.int32))
            for k, src, dt in (("start", rec.offset, np.float64), ("latency", rec.latency, np.float64),
                               ("dns_dialup", rec.dial, np.float64), ("dns_lookup", rec.dns, np.float64),
                               ("req_write", rec.write, np.float64), ("resp_wait", rec.wait, np.float64),
                               ("resp_read", rec.read, np.float64), ("status", rec.status, np.int32),
                               ("content_length", rec.content_length, np.int64),
                               ("bytes", rec.nbytes, np.int64), ("connection", rec.conn, np.int32)):
                parts[k].append(np.frombuffer(src, dtype=dt) if len(src) else np.zeros(0, dt))
        errors = list(index)
        cols = {k: np.concatenate(v) for k, v in parts.items()}
        order = np.argsort(cols["start"], kind="stable")
        cols = {k: v[order] for k, v in cols.items()}
        return cls(opts, cols, errors, total, started_at)

    def summary(self) -> str:
        """hey's summary text."""
        return loadgen_report.summary(self.stats)

    def csv(self) -> str:
        """hey's `-o csv` text (responses only, in completion order)."""
        return loadgen_report.csv(self.columns)

    @property
    def df(self):
        """One row per request, in start order: start (s after the run began), latency (s),
        status (0 for errors), bytes (body received), content_length (-1 if not sent),
        error (reason or None), hey's phases dns_dialup, dns_lookup, req_write, resp_wait,
        resp_read (s) and connection (hey's worker number)."""
        if self._df is None:
            import pandas as pd

            cols = dict(self.columns)
            reasons = np.array([None, *self.error_reasons], dtype=object)
            cols["error"] = reasons[cols["error"] + 1]
            df = pd.DataFrame({k: cols[k] for k in _COLUMNS})
            df.index.name = "request"
            self._df = df
        return self._df

    def __str__(self):
        return self.summary()

    def __repr__(self):
        codes = ", ".join(f"{k}: {v}" for k, v in self.status_codes.items())
        return (f"<LoadResult {self.method} {self.url}: {self.requests} requests in "
                f"{self.total:.2f} s, {self.rps:.1f} req/s, status {{{codes}}}, "
                f"{self.errors} errors>")

    def _repr_html_(self):
        import html

        return f"<pre>{html.escape(self.summary())}</pre>"


# ---- progress -----------------------------------------------------------------------------

def _in_notebook() -> bool:
    ipy = sys.modules.get("IPython")
    if ipy is None:
        return False
    try:
        shell = ipy.get_ipython()
    except Exception:
        return False
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def _make_progress(progress, background, opts):
    if progress is False:
        return None
    if _in_notebook():
        try:
            return _WidgetProgress(opts)
        except ImportError:
            return None if progress is None else _TextProgress(opts)
    if progress is None and (background or not sys.stderr.isatty()):
        return None
    return _TextProgress(opts)


class _TextProgress:
    """A one-line bar on stderr, redrawn at most 5 times a second."""

    def __init__(self, opts):
        self.expected = opts.expected
        self.duration = opts.duration
        self.last = 0.0

    def update(self, done: int, elapsed: float):
        now = time.monotonic()
        if now - self.last < 0.2:
            return
        self.last = now
        frac = done / self.expected if self.expected else min(1.0, elapsed / self.duration)
        width = 30
        fill = int(frac * width)
        rate = done / elapsed if elapsed > 0 else 0.0
        of = f"/{self.expected}" if self.expected else ""
        sys.stderr.write(f"\r[{'#' * fill}{'.' * (width - fill)}] {done}{of} requests, "
                         f"{elapsed:.1f} s, {rate:.0f} req/s ")
        sys.stderr.flush()

    def close(self, done: int):
        sys.stderr.write("\r\033[K")
        sys.stderr.flush()


class _WidgetProgress:
    def __init__(self, opts):
        import ipywidgets as widgets
        from IPython.display import display

        self.expected = opts.expected
        self.duration = opts.duration
        self.bar = widgets.FloatProgress(value=0.0, min=0.0, max=1.0,
                                         description="load", bar_style="info")
        self.label = widgets.Label(value="starting")
        display(widgets.HBox([self.bar, self.label]))

    def update(self, done: int, elapsed: float):
        frac = done / self.expected if self.expected else min(1.0, elapsed / self.duration)
        self.bar.value = frac
        rate = done / elapsed if elapsed > 0 else 0.0
        of = f"/{self.expected}" if self.expected else ""
        self.label.value = f"{done}{of} requests, {elapsed:.1f} s, {rate:.0f} req/s"

    def close(self, done: int):
        self.bar.value = 1.0
        self.bar.bar_style = "success"
        of = f"/{self.expected}" if self.expected else ""
        self.label.value = f"{done}{of} requests, done"
