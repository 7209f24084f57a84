"""The /debug/pprof endpoints as one framework-neutral function.

`handle(method, path, query, body, is_disconnected)` answers a request with a `Response`
(status, headers, body), or None when the client went away during a timed profile. The
stdlib handler hook, the background debug server and the WSGI middleware all call it, so
every endpoint, parameter and error is defined once, here, following Go's net/http/pprof:

- ``/debug/pprof/``: HTML index (Count | Profile table, links to ``<name>?debug=1``).
- ``profile?seconds=N``: CPU profile from the native engine (gzipped profile.proto).
- ``wall?seconds=N``: wall-clock profile of all threads (pure-Python sampler).
- ``heap``, ``allocs``: sampled heap profile; ``debug=1`` legacy text with a runtime-stats
  trailer; ``gc=1`` collects first (heap only, as Go); ``seconds=N`` is a delta profile.
- ``goroutine``: threads; ``debug=1`` grouped text, ``debug=2`` full dump.
- ``threadcreate``: threads created, by creation stack.
- ``cmdline``: the process's argv, NUL-separated. ``symbol``: remote symbolization.

Errors are Go's: text/plain with ``X-Go-Pprof: 1`` (go tool pprof then prints the message),
404 "Unknown profile", 400 for bad parameters, 500 when the CPU profiler is busy. Where
this process cannot serve a profile (the native engine did not build or load) the answer
is 501 with the reason.

Durations (``seconds``) must be positive integers no larger than `MAX_SECONDS` (600),
written as Go's strconv.ParseInt reads them (ASCII digits, an optional sign: ``²``, ``１``
or ``٣`` are 400 like Go): a profile ties up a request and a thread for its whole duration,
and a typo such as ``seconds=30000`` should fail at once rather than hold a connection for
eight hours. Go would silently use 30 s for a bad CPU ``seconds``; here it is a 400 like
Go's delta profiles, so the mistake is visible. A client that disconnects ends the profile
early.

Limits that keep the endpoints from hurting the service they profile (beyond Go):

- Timed profiles run one at a time per kind for ``profile`` (Go's rule: a second one is a
  500) and ``wall`` (each runs a sampler thread; a second one is a 429 with
  ``Retry-After``), and at most `MAX_DELTA_PROFILES` delta profiles (``seconds=N`` on
  heap, goroutine...) at once (more are 429).
- Request bodies: only ``POST /symbol`` reads one, at most `MAX_BODY_BYTES` (413 beyond);
  every other request's body is never read (the adapters close the connection instead).
- Methods: GET and HEAD everywhere (and POST for ``symbol``); anything else is 405 with
  ``Allow``, on the stdlib server and under WSGI alike.
- Host: a server bound to a loopback address answers only requests whose ``Host`` names a
  loopback address or ``localhost`` (a web page cannot reach it through DNS rebinding);
  others get 403. Pass ``allowed_hosts`` to the adapters to accept more names.
"""
from __future__ import annotations

import html
import ipaddress
import os
import sys
import threading
import time
from typing import Callable, NamedTuple
from urllib.parse import parse_qs

import numpy as np

from ..codec import legacy_text
from ..collect import aio, paused
from ..collect import runtime as runtime_stats
from ..collect import threads as thread_stacks
from ..collect import wall as wall_sampler
from ..errors import ProfilingError, ProfilingInUseError
from ..codec.proto import decode
from ..model.profile import Profile, merge
from . import prefork

PREFIX = "/debug/pprof/"
MAX_SECONDS = 600
DEFAULT_SECONDS = 30
DEFAULT_HEAP_RATE = 128 * 1024
POLL_INTERVAL = 0.1  # how often a timed profile checks whether its client is still there
MAX_DELTA_PROFILES = 8  # delta profiles (``seconds=N`` on a named profile) running at once
MAX_BODY_BYTES = 1 << 20  # the largest request body read (POST /symbol)
RETRY_AFTER = 5  # seconds a client told to come back (429) should wait

_HTTP_REASONS = {
    200: "OK", 301: "Moved Permanently", 400: "Bad Request", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 413: "Content Too Large", 429: "Too Many Requests",
    500: "Internal Server Error", 501: "Not Implemented",
}


class Response(NamedTuple):
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    @property
    def reason(self) -> str:
        return _HTTP_REASONS.get(self.status, "")


def is_pprof_path(path: str) -> bool:
    return path == PREFIX[:-1] or path.startswith(PREFIX)


# ------------------------------------------------------------------ responses

_NOSNIFF = ("X-Content-Type-Options", "nosniff")


def error(status: int, message: str) -> Response:
    """Go's serveError: text/plain, X-Go-Pprof: 1, the message and a newline."""
    return Response(status, [
        _NOSNIFF, ("Content-Type", "text/plain; charset=utf-8"), ("X-Go-Pprof", "1"),
    ], (message + "\n").encode())


def _text(body: str, content_type: str = "text/plain; charset=utf-8") -> Response:
    return Response(200, [_NOSNIFF, ("Content-Type", content_type)], body.encode())


def _proto(prof: Profile, filename: str) -> Response:
    return Response(200, [
        _NOSNIFF, ("Content-Type", "application/octet-stream"),
        ("Content-Disposition", f'attachment; filename="{filename}"'),
    ], prof.to_bytes())


# ------------------------------------------------------------------ parameters

class _BadRequest(Exception):
    def __init__(self, response: Response):
        self.response = response


def _form(query: dict, name: str) -> str:
    values = query.get(name)
    return values[0] if values else ""


def _parse_int(text: str) -> int | None:
    """Go's strconv.ParseInt(text, 10, 64): an optional sign and ASCII digits, in range;
    None where Go gives an error (Python's int() would also take ``１`` or `` 5 ``)."""
    digits = text[1:] if text[:1] in ("+", "-") else text
    if not digits or len(digits) > 19 or not digits.isascii() or not digits.isdigit():
        return None
    value = int(text)
    return value if -(1 << 63) <= value < (1 << 63) else None


def _atoi(text: str) -> int:
    """Go's strconv.Atoi with the error ignored: anything unparsable is 0."""
    value = _parse_int(text)
    return 0 if value is None else value


def _seconds(text: str) -> int:
    seconds = _parse_int(text)
    if seconds is None or seconds <= 0:
        raise _BadRequest(error(400, 'invalid value for "seconds" - must be a positive integer'))
    if seconds > MAX_SECONDS:
        raise _BadRequest(error(400, f"profile duration exceeds server's limit of {MAX_SECONDS} seconds"))
    return seconds


def wait(seconds: float, is_disconnected: Callable[[], bool]) -> bool:
    """Sleep ``seconds``, checking the client; False if it disconnected meanwhile."""
    deadline = time.monotonic() + seconds
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return True
        time.sleep(min(POLL_INTERVAL, remaining))
        if is_disconnected():
            return False


# ------------------------------------------------------------------ collectors

def _cpu_module():
    """The engine's CPU profiler, or the reason it cannot be used."""
    try:
        from ..collect import cpu
    except ImportError as exc:
        return None, f"CPU profiling is not available in this process: {exc}"
    if not cpu.available():
        return None, f"CPU profiling is not available in this process: {cpu.UNAVAILABLE_REASON}"
    return cpu, ""


def _heap_module():
    try:
        from ..collect import heap
    except ImportError as exc:
        return None, f"heap profiling is not available in this process: {exc}"
    if not heap.available():
        reason = getattr(heap, "UNAVAILABLE_REASON", "the native engine could not be loaded")
        return None, f"heap profiling is not available in this process: {reason}"
    return heap, ""


def _warm_up() -> None:
    """Import and run the profile codec once, before heap sampling starts: otherwise the
    first /debug/pprof request pays for the imports (about a second) and the heap profile
    is dominated by the import machinery's allocations."""
    thread_stacks.goroutine_profile().to_bytes()


def start_heap_sampling(rate: int | None = DEFAULT_HEAP_RATE) -> bool:
    """Start the heap sampler (if the engine is there and it is not running); True if it runs.
    Go samples the heap from the start of every program; enabling the endpoints does the
    same here, at ``rate`` bytes between samples on average. ``rate=None`` leaves it off."""
    heap, _ = _heap_module()
    if heap is None:
        return False
    if rate is not None and not heap.running():
        _warm_up()
        try:
            heap.start(rate=rate)
        except ProfilingError:
            pass  # someone else started it in the meantime
    return heap.running()


def prepare(heap_rate: int | None = DEFAULT_HEAP_RATE) -> None:
    """What every way of serving the endpoints does once, where it is set up: start heap
    sampling (see `start_heap_sampling`), label CPU and heap samples with the running
    asyncio task (`collect.aio.install`), and join the other workers if this process is
    one worker of a pre-fork server (`prefork`), so any of them can answer for all."""
    start_heap_sampling(heap_rate)
    aio.install()
    prefork.join(handle)
    _remember_heap_rate(heap_rate)


_heap_rate_for_children: list = [None]


def _remember_heap_rate(rate: int | None) -> None:
    if rate is not None:
        _heap_rate_for_children[0] = rate


def _restart_heap_in_child() -> None:
    """The engine turns heap sampling off in a fork child (its tables are the parent's);
    a worker forked from a process that served the endpoints samples its own heap again,
    as a worker that enabled them itself would."""
    rate = _heap_rate_for_children[0]
    if rate is not None:
        start_heap_sampling(rate)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_restart_heap_in_child)


def _heap_profile(name: str) -> Profile:
    heap, reason = _heap_module()
    if heap is None:
        raise _BadRequest(error(501, reason))
    if not heap.running():
        raise _BadRequest(error(501, "heap sampling is not running in this process: "
                                     "start it with pyprofnb.collect.heap.start()"))
    prof = heap.profile()
    if not prof.time_nanos:
        prof = prof.replace(time_nanos=time.time_ns())
    if name == "allocs":
        prof = prof.replace(default_sample_type="alloc_space")
    return prof


class _Named:
    """A runtime/pprof-style named profile: proto, debug text, optional delta."""

    def __init__(self, name, description, collect, text, count):
        self.name, self.description = name, description
        self.collect, self.text, self.count = collect, text, count


def _heap_text(name: str, debug: int) -> str:
    prof = _heap_profile(name)
    return legacy_text.format_heap_text(prof, runtime_stats.memstats(prof))


def _heap_count(name: str) -> int:
    heap, _ = _heap_module()
    if heap is None or not heap.running():
        return 0
    return int(heap.stats().get("stacks", 0))  # the records of the profile, without building it


def _goroutine_text(name: str, debug: int) -> str:
    if debug >= 2:
        return thread_stacks.format_thread_dump()
    prof = thread_stacks.goroutine_profile(with_labels=False)
    return legacy_text.format_count_text(prof, "goroutine")


NAMED = {
    p.name: p for p in [
        _Named("allocs", "A sampling of all past memory allocations",
               lambda: _heap_profile("allocs"), lambda d: _heap_text("allocs", d), lambda: _heap_count("allocs")),
        _Named("goroutine", "Stack traces of all current threads (Python's goroutines). Use debug=2 as a "
                            "query parameter to export in the same format as an unrecovered panic.",
               lambda: thread_stacks.goroutine_profile(), lambda d: _goroutine_text("goroutine", d),
               thread_stacks.thread_count),
        _Named("heap", "A sampling of memory allocations of live objects. You can specify the gc GET "
                       "parameter to run GC before taking the heap sample.",
               lambda: _heap_profile("heap"), lambda d: _heap_text("heap", d), lambda: _heap_count("heap")),
        _Named("threadcreate", "Stack traces that led to the creation of new OS threads",
               thread_stacks.threadcreate_profile,
               lambda d: legacy_text.format_count_text(thread_stacks.threadcreate_profile(), "threadcreate"),
               thread_stacks.threads_created),
    ]
}

# Profiles served by their own handlers: (description).
OTHER = {
    "cmdline": "The command line invocation of the current program",
    "profile": "CPU profile. You can specify the duration in the seconds GET parameter. After you get the "
               "profile file, use the go tool pprof command to investigate the profile.",
    "wall": "Wall-clock profile of all threads, including those waiting on I/O or locks. You can specify "
            "the duration in the seconds GET parameter.",
}


def _too_many(what: str) -> Response:
    r = error(429, f"{what} already running; try again later")
    return r._replace(headers=r.headers + [("Retry-After", str(RETRY_AFTER))])


_DELTA_SLOTS = threading.BoundedSemaphore(MAX_DELTA_PROFILES)
_WALL_SLOT = threading.Lock()


def _serve_named(p: _Named, query: dict, is_disconnected) -> Response | None:
    seconds_text = _form(query, "seconds")
    if seconds_text != "":
        seconds = _seconds(seconds_text)
        if _atoi(_form(query, "debug")) != 0:
            return error(400, "seconds and debug params are incompatible")
        if not _DELTA_SLOTS.acquire(blocking=False):
            return _too_many(f"{MAX_DELTA_PROFILES} delta profiles are")
        try:
            # Collection times from our clock: a sampler may stamp its profiles with its start.
            t0, p0 = time.time_ns(), p.collect()
            if not wait(seconds, is_disconnected):
                return None
            t1, p1 = time.time_ns(), p.collect()
        finally:
            _DELTA_SLOTS.release()
        delta = merge([p1, -p0])
        delta = delta.replace(time_nanos=t1, duration_nanos=t1 - t0)
        return _proto(delta, f"{p.name}-delta")
    if p.name == "heap" and _atoi(_form(query, "gc")) > 0:
        runtime_stats.collect()
    debug = _atoi(_form(query, "debug"))
    if debug != 0:
        return _text(p.text(debug))
    return _proto(p.collect(), p.name)


def _serve_timed(kind: str, query: dict, is_disconnected) -> Response | None:
    seconds_text = _form(query, "seconds")
    seconds = DEFAULT_SECONDS if seconds_text == "" else _seconds(seconds_text)
    if kind == "wall":
        if not _WALL_SLOT.acquire(blocking=False):
            return _too_many("a wall-clock profile is")
        try:
            sampler = wall_sampler.WallProfiler().start()
            try:
                alive = wait(seconds, is_disconnected)
            finally:
                prof = sampler.stop()
        finally:
            _WALL_SLOT.release()
        return _proto(prof, "wall") if alive else None
    cpu, reason = _cpu_module()
    if cpu is None:
        return error(501, reason)
    try:
        cpu.start()
    except ProfilingInUseError as exc:
        return error(500, f"Could not enable CPU profiling: {exc}")
    except ProfilingError as exc:
        return error(500, f"Could not enable CPU profiling: {exc}")
    try:
        alive = wait(seconds, is_disconnected)
    finally:
        prof = cpu.stop()
    return _proto(prof, "profile") if alive else None


def _cmdline() -> Response:
    argv = getattr(sys, "orig_argv", None) or sys.argv
    return _text("\x00".join(argv))


def _symbol(method: str, query: str, body: bytes | None) -> Response:
    """``num_symbols: 1`` then ``0xPC name`` for each ``+``-separated address we know
    (the synthetic addresses of the legacy text profiles, see `legacy_text.ADDRESSES`)."""
    if method == "POST" and body is None:
        return error(413, f"request body larger than {MAX_BODY_BYTES} bytes")
    words = ((body or b"").decode("latin-1") if method == "POST" else query).split("+")
    lines = ["num_symbols: 1"]
    for word in words:
        word = word.strip()
        try:
            pc = int(word, 0)
        except ValueError:
            continue
        func = legacy_text.ADDRESSES.lookup(pc) if pc else None
        if func is not None:
            lines.append(f"{pc:#x} {func[0]}")
    return _text("\n".join(lines) + "\n")


_INDEX = """<html>
<head>
<title>/debug/pprof/</title>
<style>
.profile-name{{
	display:inline-block;
	width:6rem;
}}
</style>
</head>
<body>
/debug/pprof/
<br>
<p>Set debug=1 as a query parameter to export in legacy text format</p>
<br>
Types of profiles available:
<table>
<thead><td>Count</td><td>Profile</td></thead>
{rows}
</table>
<a href="goroutine?debug=2">full goroutine stack dump</a>
<br>
<p>
Profile Descriptions:
<ul>
{descriptions}
</ul>
</p>
</body>
</html>
"""


def _index() -> Response:
    entries = [(name, p.count(), p.description) for name, p in NAMED.items()]
    entries += [(name, 0, desc) for name, desc in OTHER.items()]
    entries.sort()
    rows = "\n".join(
        f"\t<tr>\n\t<td>{count}</td><td><a href='{html.escape(name)}?debug=1'>{html.escape(name)}</a></td>\n\t</tr>"
        for name, count, _ in entries
    )
    descriptions = "\n".join(
        f"<li><div class=profile-name>{html.escape(name)}: </div> {html.escape(desc)}</li>" for name, _, desc in entries
    )
    return _text(_INDEX.format(rows=rows, descriptions=descriptions), "text/html; charset=utf-8")


# ------------------------------------------------------------------ pre-fork servers

GATHERED = ("allocs", "goroutine", "heap", "profile", "wall")


def _pid_param(params: dict) -> int | None:
    text = _form(params, "pid")
    if text == "":
        return None
    if not text.isdigit():
        raise _BadRequest(error(400, f'invalid value for "pid" - must be a process id, got {text!r}'))
    return int(text)


def _label_all(prof: Profile, key: str, number: int) -> Profile:
    """Every sample gets the numeric label key=number: numeric so that go tool pprof's
    ``-tagfocus=pid=1234`` matches it (a number there is a range, matched only by numbers)."""
    n = prof.n_samples
    keys, strs, units = (np.empty(n, dtype=object) for _ in range(3))
    keys[:], strs[:], units[:] = key, None, ""
    return prof.replace(
        label_sample=np.concatenate([prof.label_sample, np.arange(n, dtype=np.int64)]),
        label_key=np.concatenate([prof.label_key, keys]),
        label_str=np.concatenate([prof.label_str, strs]),
        label_num=np.concatenate([prof.label_num, np.full(n, number, dtype=np.int64)]),
        label_unit=np.concatenate([prof.label_unit, units]),
    )


def _serve_group(group, method: str, path: str, query: str, name: str, params: dict,
                 is_disconnected) -> Response | None:
    """The merged answer of all the server's workers (or of the one ``?pid=`` names)."""
    members = group.members()
    pid = _pid_param(params)
    if pid is not None:
        chosen = [m for m in members if m.pid == pid]
        if not chosen:
            pids = ", ".join(str(m.pid) for m in members)
            return error(404, f"no worker with pid {pid} in this server (workers: {pids})")
        members = chosen
    seconds_text = _form(params, "seconds")
    seconds = DEFAULT_SECONDS if seconds_text == "" else _seconds(seconds_text)
    debug = _atoi(_form(params, "debug"))
    as_text = debug >= 2 and name == "goroutine"
    # Members send profiles; debug=1 text is rendered here from the merged profile.
    member_query = query if as_text or debug == 0 else "&".join(
        part for part in query.split("&") if not part.startswith("debug="))
    timeout = (seconds if name in ("profile", "wall") or seconds_text else 0) + prefork.EXTRA_TIMEOUT
    result, answers = prefork.gather(
        members, group.me, method, path, member_query, timeout,
        lambda: handle(method, path, member_query, b"", is_disconnected, local=True), is_disconnected)
    if result is None and any(m.pid == group.me.pid for m in members):
        return None
    replies = ([(group.me, result)] if result is not None else []) + [
        (a.member, Response(a.status, [tuple(h) for h in a.headers], a.body)) for a in answers if not a.problem]
    notes = [f"{a.member.title} {a.problem}: its samples are missing from this profile"
             for a in answers if a.problem]
    with paused():  # decoding and merging are pyprofnb's work, not the service's
        return _merge_answers(group, name, debug, as_text, members, replies, notes)


def _merge_answers(group, name, debug, as_text, members, replies, notes) -> Response:
    if as_text:
        parts = [f"# {m.title}\n\n" + r.body.decode("utf-8", "replace") for m, r in replies if r.status == 200]
        parts += [f"# {note}\n" for note in notes]
        return _text("\n".join(parts))
    profiles = []
    for member, reply in replies:
        if reply.status != 200:
            notes.append(f"{member.title} answered {reply.status}: {reply.body.decode('utf-8', 'replace').strip()}")
            continue
        prof = _label_all(decode(reply.body, source=f"the profile of {member.title}"), "pid", member.pid)
        if member.worker.isdigit():
            prof = _label_all(prof, "worker", int(member.worker))
        profiles.append(prof)
    if not profiles:
        if replies:
            return replies[0][1]
        return error(500, "no worker of this server answered: " + "; ".join(notes))
    merged = merge(profiles)
    merged = merged.replace(
        duration_nanos=max(p.duration_nanos for p in profiles),
        comments=merged.comments + [f"merged from {len(profiles)} of {len(members)} workers of the server led "
                                    f"by pid {group.leader}"] + notes)
    if debug != 0:
        if name == "goroutine":
            return _text(legacy_text.format_count_text(merged, "goroutine"))
        return _text(legacy_text.format_heap_text(merged, runtime_stats.memstats(merged)))
    return _proto(merged, name)


def allowed_methods(path: str) -> tuple[str, ...]:
    """The methods a /debug/pprof path answers (the same on every adapter)."""
    return ("GET", "HEAD", "POST") if path == PREFIX + "symbol" else ("GET", "HEAD")


def reads_body(method: str, path: str) -> bool:
    """Whether the request's body is read at all: only POST /symbol's is."""
    return method == "POST" and path == PREFIX + "symbol"


LOOPBACK_NAMES = ("localhost", "localhost.", "ip6-localhost", "ip6-loopback")


def is_loopback(host: str) -> bool:
    """A loopback IP address (127.0.0.0/8, ::1, and IPv4-mapped forms) or localhost."""
    host = host.strip("[]").lower()
    if host in LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or (mapped is not None and mapped.is_loopback)


def host_name(host_header: str) -> str:
    """The host part of a ``Host`` header (``[::1]:6060`` -> ``::1``)."""
    host = host_header.strip()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def host_forbidden(host_header: str | None, allowed_hosts=()) -> Response | None:
    """For a loopback-bound server: 403 unless ``Host`` names a loopback address (or one of
    ``allowed_hosts``). Browsers send the page's host name, so a DNS-rebinding page that
    reaches 127.0.0.1 still says ``Host: attacker.example`` and is refused here."""
    if host_header is None:  # HTTP/1.0 without Host: no browser sends that
        return None
    name = host_name(host_header)
    if is_loopback(name) or name.lower() in {h.lower() for h in allowed_hosts}:
        return None
    return error(403, f"Host {host_header[:100]!r} is not allowed: this server is bound to a loopback "
                      "address and answers only loopback host names (DNS rebinding protection)")


def method_not_allowed(allowed: tuple[str, ...]) -> Response:
    # Go's ServeMux answers this itself: plain text, no X-Go-Pprof.
    return Response(405, [("Allow", ", ".join(allowed)), ("Content-Type", "text/plain; charset=utf-8"),
                          _NOSNIFF], b"Method Not Allowed\n")


def handle(
    method: str,
    path: str,
    query: str = "",
    body: bytes | None = b"",
    is_disconnected: Callable[[], bool] = lambda: False,
    *,
    local: bool = False,
) -> Response | None:
    """Answer one /debug/pprof request; None if the client disconnected mid-profile.
    In a worker of a pre-fork server the profiles come from all workers unless ``local``.
    ``body`` is POST /symbol's body, or None when it was larger than `MAX_BODY_BYTES`.

    >>> status, headers, body = handle("GET", "/debug/pprof/goroutine", "debug=1")
    """
    # Collecting, building, encoding and serving a profile is pyprofnb's work: this thread's
    # CPU and allocations meanwhile stay out of the profiles it serves.
    with paused():
        return _handle(method, path, query, body, is_disconnected, local)


def _handle(method: str, path: str, query: str, body: bytes | None, is_disconnected: Callable[[], bool],
            local: bool):
    allowed = allowed_methods(path)
    if method not in allowed:
        return method_not_allowed(allowed)
    if path == PREFIX[:-1]:
        return Response(301, [("Location", PREFIX + (f"?{query}" if query else ""))], b"")
    name = path[len(PREFIX):]
    params = parse_qs(query, keep_blank_values=True)
    try:
        if name in GATHERED and not local:
            group = prefork.current()
            if group is not None:
                return _serve_group(group, method, path, query, name, params, is_disconnected)
            pid = _pid_param(params)
            if pid is not None and pid != os.getpid():
                return error(404, f"no worker with pid {pid} in this server (it serves alone, as pid "
                                  f"{os.getpid()})")
        if name == "":
            return _index()
        if name == "cmdline":
            return _cmdline()
        if name == "symbol":
            return _symbol(method, query, body)
        if name in ("profile", "wall"):
            return _serve_timed(name, params, is_disconnected)
        p = NAMED.get(name)
        if p is None:
            return error(404, "Unknown profile")
        return _serve_named(p, params, is_disconnected)
    except _BadRequest as exc:
        return exc.response


__all__ = [
    "DEFAULT_HEAP_RATE", "GATHERED", "MAX_BODY_BYTES", "MAX_DELTA_PROFILES", "MAX_SECONDS", "NAMED", "PREFIX",
    "Response", "allowed_methods", "error", "handle", "host_forbidden", "is_loopback", "is_pprof_path",
    "method_not_allowed", "prepare", "reads_body", "start_heap_sampling", "wait",
]
