"""One load-generating process: its share of hey's workers, each a keep-alive HTTP/1.1
connection, all driven by one epoll loop over non-blocking sockets.

Why hand-rolled: a request/response on a reused connection costs one epoll wake-up, one
recv and one send here, which is what lets a few Python processes keep up with Go's hey.
The client speaks only what a load test needs: Content-Length, chunked and read-to-close
bodies, keep-alive and `Connection: close`, HEAD/204/304, 1xx interim responses, redirects.

Every request ends as exactly one record (a status or an error reason); nothing a server does
makes the loop raise or wait past the request timeout.
"""
from __future__ import annotations

import errno
import heapq
from collections import deque
import os
import select
import signal
import socket
import time
from array import array
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

_IN = select.EPOLLIN
_OUT = select.EPOLLOUT
_RECV = 262144
_MAX_HEADER = 1 << 20
_TICK = 0.01  # how often timeouts, the stop flag and progress are looked at

# connection states
_IDLE, _CONNECTING, _WRITING, _READING = range(4)
# body framing
_NONE, _LENGTH, _CHUNKED, _TO_CLOSE = range(4)
# what a parsed header block means
_ENDED, _BODY, _INTERIM = range(3)
# chunked body parser states
_SIZE, _DATA, _TRAILER = range(3)


@dataclass
class RequestSpec:
    """What to send, in a form that can cross a process boundary."""

    url: str
    method: str
    headers: list[tuple[str, str]]  # everything but Host and Content-Length
    body: bytes = b""
    host_header: str | None = None  # -host
    proxy: tuple[str, int] | None = None  # -x host:port
    keepalive: bool = True
    implicit_gzip: bool = False  # we asked for gzip on the user's behalf, as Go's transport does


@dataclass
class Plan:
    """One process's share of a run."""

    spec: RequestSpec
    conns: int  # hey workers in this process
    per_conn: int  # requests each of them sends
    qps: float = 0.0  # per connection, 0 = unlimited
    timeout: float = 20.0  # per request, 0 = none
    duration: float = 0.0  # -z, 0 = none
    follow_redirects: bool = True
    first_conn_id: int = 0


@dataclass
class Target:
    """A prepared request: where to connect and the exact bytes to send."""

    url: str
    host: str  # to resolve and dial
    port: int
    wire: bytes
    method: str
    verb: str  # "Get", "Post": how Go's errors name the method
    shown: str = ""  # url as error reasons show it, password redacted

    @classmethod
    def build(cls, spec: RequestSpec, url: str, method: str, body: bytes) -> "Target":
        parts = urlsplit(url)
        if parts.scheme != "http":
            raise ValueError(f'unsupported protocol scheme "{parts.scheme}"')
        if not parts.hostname:
            raise ValueError("no Host in request URL")
        port = parts.port or 80
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        host_header = spec.host_header or parts.netloc.rpartition("@")[2]
        if spec.proxy:
            dial_host, dial_port = spec.proxy
            path = f"http://{parts.netloc}{path}"
        else:
            dial_host, dial_port = parts.hostname, port
        lines = [f"{method} {path} HTTP/1.1", f"Host: {host_header}"]
        lines += [f"{k}: {v}" for k, v in spec.headers]
        if body or method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(body)}")
        if not spec.keepalive:
            lines.append("Connection: close")
        wire = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        verb = method[:1] + method[1:].lower()
        shown = url
        if parts.password is not None:  # error reasons show the URL: redact as Go does
            user, _, hostport = parts.netloc.rpartition("@")
            shown = url.replace(parts.netloc, f"{user.split(':')[0]}:xxxxx@{hostport}", 1)
        return cls(url, dial_host, dial_port, wire, method, verb, shown)


@dataclass
class Records:
    """Per-request columns, appended in completion order."""

    offset: array = field(default_factory=lambda: array("d"))
    latency: array = field(default_factory=lambda: array("d"))
    dial: array = field(default_factory=lambda: array("d"))
    dns: array = field(default_factory=lambda: array("d"))
    write: array = field(default_factory=lambda: array("d"))
    wait: array = field(default_factory=lambda: array("d"))
    read: array = field(default_factory=lambda: array("d"))
    status: array = field(default_factory=lambda: array("i"))
    content_length: array = field(default_factory=lambda: array("q"))
    nbytes: array = field(default_factory=lambda: array("q"))
    error: array = field(default_factory=lambda: array("i"))  # -1 or index into errors
    conn: array = field(default_factory=lambda: array("i"))
    errors: list = field(default_factory=list)
    end: float = 0.0  # perf_counter when the last request of this process ended


class _Conn:
    __slots__ = (
        "id", "sock", "fd", "state", "reused", "left", "target", "out", "buf", "retried",
        "t_start", "t_dial", "dial", "dns", "t_req", "t_wrote", "t_first", "deadline",
        "status", "clen", "framing", "need", "nbytes", "close", "got", "redirects",
        "next_tick", "addr", "chunk_state", "location",
    )

    def __init__(self, cid: int, left: int, target: Target):
        self.id = cid
        self.sock = None
        self.fd = -1
        self.state = _IDLE
        self.left = left
        self.target = target
        self.addr = None
        self.next_tick = 0.0


def _strerror(code: int) -> str:
    msg = os.strerror(code)
    return msg[:1].lower() + msg[1:]


class Worker:
    """Runs a Plan to completion and returns its Records."""

    def __init__(self, plan: Plan, stop_flag=None, progress=None, slot: int = 0):
        self.plan = plan
        self.spec = plan.spec
        self.base = Target.build(plan.spec, plan.spec.url, plan.spec.method, plan.spec.body)
        self.stop_flag = stop_flag
        self.progress = progress
        self.slot = slot
        self.rec = Records()
        self.err_index: dict[str, int] = {}
        self.dns_cache: dict[str, tuple] = {}
        self.redirect_cache: dict[tuple, Target] = {}
        self.ep = select.epoll()
        self.fds: dict[int, _Conn] = {}
        self.timers: list = []
        self.stopping = False
        self.interval = 1.0 / plan.qps if plan.qps > 0 else 0.0
        self.timeout = plan.timeout
        self.done = 0
        self.conns = [_Conn(plan.first_conn_id + i, plan.per_conn, self.base)
                      for i in range(plan.conns)]
        self.active = len([c for c in self.conns if c.left > 0])
        self.ready = deque()  # connections whose next request starts on the next turn
        self.parent = os.getppid()
        self.orphaned = False
        self._implicit_gzip = plan.spec.implicit_gzip

    # ---- the loop -------------------------------------------------------------------
    def run(self, t0: float) -> Records:
        self.t0 = t0
        self.stop_at = t0 + self.plan.duration if self.plan.duration > 0 else float("inf")
        now = time.perf_counter()
        for conn in self.conns:
            conn.next_tick = t0 + self.interval
            if conn.left > 0:
                self._next(conn, now)
        fds = self.fds
        poll = self.ep.poll
        next_tick = time.perf_counter() + _TICK
        ready = self.ready
        while self.active:
            while ready:
                self._next(ready.popleft(), time.perf_counter())
            if not self.active:
                break
            timeout = _TICK
            if self.timers:
                timeout = min(timeout, max(0.0, self.timers[0][0] - time.perf_counter()))
            for fd, ev in poll(timeout):
                conn = fds.get(fd)
                if conn is None:
                    continue
                state = conn.state
                if state == _READING:
                    self._readable(conn)
                elif state == _WRITING:
                    self._writable(conn)
                elif state == _CONNECTING:
                    self._connected(conn)
                else:
                    # An idle keep-alive connection became readable: the server closed it
                    # (or spoke out of turn). Drop it, as Go's transport does; the next
                    # request dials afresh.
                    self._close(conn)
            now = time.perf_counter()
            if self.timers and self.timers[0][0] <= now:
                self._fire_timers(now)
            if now >= next_tick:
                next_tick = now + _TICK
                self._housekeeping(now)
        self.rec.end = time.perf_counter()
        self.rec.errors = list(self.err_index)
        if self.progress is not None:
            self.progress[self.slot] = self.done
        self.ep.close()
        return self.rec

    def _housekeeping(self, now: float) -> None:
        if self.progress is not None:
            self.progress[self.slot] = self.done
        if self.stop_flag is not None and self.stop_flag.value:
            self.stopping = True
        elif self.progress is not None and os.getppid() != self.parent:
            self.stopping = self.orphaned = True  # the parent died: nobody reads the results
        if self.stopping or now >= self.stop_at:
            # Requests in flight finish (as in hey); connections waiting on the rate
            # limiter have nothing in flight and end now.
            for _, _, conn in self.timers:
                if conn.left > 0 and conn.state == _IDLE:
                    self._finish_conn(conn)
            self.timers.clear()
        if self.timeout > 0:
            for conn in self.conns:
                if conn.state != _IDLE and now >= conn.deadline:
                    if conn.state == _READING and conn.status:
                        what = "(Client.Timeout or context cancellation while reading body)"
                    else:
                        what = "(Client.Timeout exceeded while awaiting headers)"
                    self._fail(conn, f"context deadline exceeded {what}", now)

    def _fire_timers(self, now: float) -> None:
        timers = self.timers
        while timers and timers[0][0] <= now:
            _, _, conn = heapq.heappop(timers)
            self._start(conn, now)

    # ---- request lifecycle ----------------------------------------------------------
    def _next(self, conn: _Conn, now: float) -> None:
        """Start conn's next request, or wait for the rate limiter, or end the connection."""
        if conn.left <= 0 or self.stopping or now >= self.stop_at:
            self._finish_conn(conn)
            return
        if self.interval:
            if now < conn.next_tick:
                heapq.heappush(self.timers, (conn.next_tick, conn.id, conn))
                return
        self._start(conn, now)

    def _start(self, conn: _Conn, now: float) -> None:
        if self.stopping or now >= self.stop_at:
            self._finish_conn(conn)
            return
        if self.interval:
            # time.Tick: one tick per interval; a late tick waits in the channel.
            conn.next_tick = max(conn.next_tick + self.interval, now)
        conn.t_start = now
        conn.deadline = now + self.timeout
        conn.retried = False
        conn.redirects = 0
        if conn.target is not self.base:  # the previous request ended after a redirect
            if (conn.target.host, conn.target.port) != (self.base.host, self.base.port):
                self._close(conn)
            conn.target = self.base
        self._begin(conn, now)

    def _begin(self, conn: _Conn, now: float) -> None:
        """Send conn.target's request on the open connection or on a new one."""
        conn.dial = 0.0
        conn.dns = 0.0
        conn.status = 0
        conn.got = 0
        if conn.sock is None:
            self._dial(conn, now)
        else:
            conn.reused = True
            conn.t_req = now
            self._send(conn, conn.target.wire)

    def _dial(self, conn: _Conn, now: float) -> None:
        target = conn.target
        conn.reused = False
        conn.t_dial = now
        addr = self._resolve(conn, target.host, target.port)
        if addr is None:
            return
        family, sockaddr = addr
        try:
            sock = socket.socket(family, socket.SOCK_STREAM)
        except OSError as e:
            self._fail(conn, f"dial tcp {target.host}:{target.port}: socket: {_strerror(e.errno)}", now)
            return
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.sock = sock
        conn.fd = sock.fileno()
        conn.addr = sockaddr
        self.fds[conn.fd] = conn
        code = sock.connect_ex(sockaddr)
        if code == 0:
            self.ep.register(conn.fd, _IN)
            self._connected_now(conn, time.perf_counter())
        elif code in (errno.EINPROGRESS, errno.EAGAIN, errno.EALREADY):
            conn.state = _CONNECTING
            self.ep.register(conn.fd, _OUT)
        else:
            self._fail(conn, f"dial tcp {_fmt_addr(sockaddr)}: connect: {_strerror(code)}", now)

    def _resolve(self, conn: _Conn, host: str, port: int):
        key = (host, port)
        hit = self.dns_cache.get(key)
        if hit is None:
            t = time.perf_counter()
            try:
                infos = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
                hit = (infos[0][0], infos[0][4])
            except (socket.gaierror, UnicodeError) as e:
                reason = "no such host" if getattr(e, "errno", None) in (
                    socket.EAI_NONAME, getattr(socket, "EAI_NODATA", -5)) else str(e)
                hit = ("error", f"dial tcp: lookup {host}: {reason}")
            if not _is_ip(host):  # Go reports no DNS phase for an IP literal
                conn.dns = time.perf_counter() - t
            self.dns_cache[key] = hit
        if hit[0] == "error":
            self._fail(conn, hit[1], time.perf_counter())
            return None
        return hit

    def _connected(self, conn: _Conn) -> None:
        code = conn.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        now = time.perf_counter()
        if code:
            self._fail(conn, f"dial tcp {_fmt_addr(conn.addr)}: connect: {_strerror(code)}", now)
            return
        self.ep.modify(conn.fd, _IN)
        self._connected_now(conn, now)

    def _connected_now(self, conn: _Conn, now: float) -> None:
        conn.dial = now - conn.t_dial
        conn.t_req = now
        self._send(conn, conn.target.wire)

    def _send(self, conn: _Conn, data: bytes) -> None:
        try:
            sent = conn.sock.send(data)
        except BlockingIOError:
            sent = 0
        except OSError as e:
            self._io_error(conn, e, "write")
            return
        if sent == len(data):
            conn.t_wrote = time.perf_counter()
            conn.state = _READING
            conn.buf = b""
            conn.framing = -1  # headers not parsed yet
        else:
            conn.out = data[sent:]
            conn.state = _WRITING
            self.ep.modify(conn.fd, _OUT)

    def _writable(self, conn: _Conn) -> None:
        try:
            sent = conn.sock.send(conn.out)
        except BlockingIOError:
            return
        except OSError as e:
            self._io_error(conn, e, "write")
            return
        conn.out = conn.out[sent:]
        if not conn.out:
            conn.t_wrote = time.perf_counter()
            conn.state = _READING
            conn.buf = b""
            conn.framing = -1
            self.ep.modify(conn.fd, _IN)

    def _readable(self, conn: _Conn) -> None:
        try:
            data = conn.sock.recv(_RECV)
        except BlockingIOError:
            return
        except OSError as e:
            self._io_error(conn, e, "read")
            return
        now = time.perf_counter()
        if not data:
            self._eof(conn, now)
            return
        if not conn.got:
            conn.t_first = now
        conn.got += len(data)
        if conn.framing == -1:
            buf = conn.buf + data if conn.buf else data
            while True:
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    if len(buf) >= 5 and not buf.startswith(b"HTTP/"):
                        self._malformed(conn, buf, now)
                    elif len(buf) > _MAX_HEADER:
                        self._fail(conn, "net/http: server response headers exceeded "
                                         "1048576 bytes", now)
                    else:
                        conn.buf = buf
                    return
                kind = self._head(conn, buf, end, now)
                body = buf[end + 4:]
                if kind == _INTERIM:
                    buf = body
                    conn.buf = b""
                    if not buf:
                        return
                    continue
                if kind == _ENDED:
                    return
                break
        else:
            body = data
        if conn.framing == _LENGTH:
            conn.nbytes += len(body)
            if conn.nbytes >= conn.need:
                self._complete(conn, now)
        elif conn.framing == _CHUNKED:
            self._chunked(conn, body, now)
        elif conn.framing == _TO_CLOSE:
            conn.nbytes += len(body)
        else:  # _NONE: no body expected; anything extra is the server's problem
            self._complete(conn, now)

    def _head(self, conn: _Conn, buf: bytes, end: int, now: float) -> int:
        """Parse a status line and headers, set the body framing; say what follows."""
        if not buf.startswith(b"HTTP/1.") or buf[12:13] not in (b" ", b"\r") or buf[8:9] != b" ":
            self._malformed(conn, buf, now)
            return _ENDED
        try:
            status = int(buf[9:12])
        except ValueError:
            self._malformed(conn, buf, now)
            return _ENDED
        head = buf[:end + 2].lower()
        if 100 <= status < 200 and status != 101:
            return _INTERIM  # 100 Continue, 103 Early Hints: the real response follows
        clen = -1
        i = head.find(b"\r\ncontent-length:")
        if i >= 0:
            try:
                clen = int(head[i + 17:head.find(b"\r\n", i + 17)])
            except ValueError:
                self._fail(conn, "net/http: HTTP/1.x transport connection broken: "
                                 "bad Content-Length", now)
                return _ENDED
        i = head.find(b"\r\ntransfer-encoding:")
        chunked = i >= 0 and b"chunked" in head[i:head.find(b"\r\n", i + 2)]
        i = head.find(b"\r\nconnection:")
        conn_hdr = head[i:head.find(b"\r\n", i + 2)] if i >= 0 else b""
        if buf.startswith(b"HTTP/1.0"):
            conn.close = b"keep-alive" not in conn_hdr
        else:
            conn.close = b"close" in conn_hdr
        if not self.spec.keepalive:
            conn.close = True
        conn.status = status
        conn.nbytes = 0
        conn.location = None
        if status in (301, 302, 303, 307, 308) and self.plan.follow_redirects:
            i = head.find(b"\r\nlocation:")
            if i >= 0:
                loc = buf[i + 11:head.find(b"\r\n", i + 2)].strip()
                conn.location = loc.decode("latin-1") or None
        # Go's resp.ContentLength: -1 when unknown or when it decompressed the body.
        if clen >= 0 and self._implicit_gzip and b"\r\ncontent-encoding: gzip" in head:
            conn.clen = -1
        else:
            conn.clen = clen if not chunked else -1
        if conn.target.method == "HEAD" or status in (204, 304):
            conn.framing = _NONE
        elif chunked:
            conn.framing = _CHUNKED
            conn.chunk_state = (_SIZE, 0, b"")
        elif clen >= 0:
            conn.framing = _LENGTH
            conn.need = clen
        else:
            conn.framing = _TO_CLOSE
            conn.close = True
        if conn.framing == _NONE or (conn.framing == _LENGTH and clen == 0):
            self._complete(conn, now)
            return _ENDED
        return _BODY

    def _chunked(self, conn: _Conn, data: bytes, now: float) -> None:
        """Count the body bytes of a chunked response and notice its end."""
        state, skip, buf = conn.chunk_state
        buf = buf + data if buf else data
        pos, n = 0, len(buf)
        while True:
            if state == _DATA:  # chunk data and the CRLF after it
                take = min(skip, n - pos)
                skip -= take
                pos += take
                if skip:
                    break
                state = _SIZE
                continue
            eol = buf.find(b"\r\n", pos)
            if eol < 0:
                if n - pos > 8192:
                    self._fail(conn, "net/http: HTTP/1.x transport connection broken: "
                                     "malformed chunked encoding", now)
                    return
                break
            if state == _TRAILER:
                if eol == pos:
                    self._complete(conn, now)
                    return
                pos = eol + 2
                continue
            try:
                size = int(buf[pos:eol].split(b";", 1)[0], 16)
            except ValueError:
                self._fail(conn, "net/http: HTTP/1.x transport connection broken: "
                                 "malformed chunked encoding", now)
                return
            pos = eol + 2
            if size == 0:
                state = _TRAILER
            else:
                conn.nbytes += size
                skip = size + 2
                state = _DATA
        conn.chunk_state = (state, skip, buf[pos:])

    def _eof(self, conn: _Conn, now: float) -> None:
        if conn.state == _READING and conn.framing == _TO_CLOSE:
            self._complete(conn, now)
        elif conn.got == 0 and conn.reused and not conn.retried:
            # The server had closed this idle keep-alive connection before our request
            # reached it; like Go's transport, send the request again on a new connection.
            self._retry(conn, now)
        elif conn.got == 0:
            self._fail(conn, "EOF", now)
        else:
            self._fail(conn, "unexpected EOF", now)

    def _io_error(self, conn: _Conn, exc: OSError, op: str) -> None:
        now = time.perf_counter()
        if (conn.got == 0 and conn.reused and not conn.retried
                and exc.errno in (errno.ECONNRESET, errno.EPIPE)):
            self._retry(conn, now)
            return
        reason = _strerror(exc.errno) if exc.errno else str(exc)
        self._fail(conn, f"{op} tcp {_fmt_addr(conn.addr)}: {op}: {reason}", now)

    def _retry(self, conn: _Conn, now: float) -> None:
        self._close(conn)
        conn.retried = True
        self._begin(conn, now)

    def _malformed(self, conn: _Conn, buf: bytes, now: float) -> None:
        line = buf.split(b"\r\n", 1)[0].split(b"\n", 1)[0][:40]
        text = line.decode("latin-1").encode("unicode_escape").decode("ascii").replace('"', '\\"')
        self._fail(conn, "net/http: HTTP/1.x transport connection broken: "
                         f'malformed HTTP response "{text}"', now)

    # ---- endings --------------------------------------------------------------------
    def _complete(self, conn: _Conn, now: float) -> None:
        status = conn.status
        if conn.location is not None and self._redirect(conn, now):
            return
        rec = self.rec
        rec.offset.append(conn.t_start - self.t0)
        rec.latency.append(now - conn.t_start)
        rec.dial.append(conn.dial)
        rec.dns.append(conn.dns)
        rec.write.append(conn.t_wrote - conn.t_req)
        rec.wait.append(conn.t_first - conn.t_wrote)
        rec.read.append(now - conn.t_first)
        rec.status.append(status)
        rec.content_length.append(conn.clen)
        rec.nbytes.append(conn.nbytes)
        rec.error.append(-1)
        rec.conn.append(conn.id)
        self.done += 1
        conn.left -= 1
        if conn.close:
            self._close(conn)
        else:
            conn.state = _IDLE
        self._next(conn, now)

    def _redirect(self, conn: _Conn, now: float) -> bool:
        """Follow a redirect as Go's client does; True once the request is taken care of
        (a new request went out, or the request ended in an error)."""
        loc = conn.location
        if conn.redirects >= 10:
            self._fail(conn, "stopped after 10 redirects", now)
            return True
        method, body = conn.target.method, self.spec.body
        if conn.status in (301, 302, 303) and method != "HEAD":
            method, body = "GET", b""
        url = urljoin(conn.target.url, loc)
        key = (url, method)
        target = self.redirect_cache.get(key)
        if target is None:
            try:
                target = Target.build(self.spec, url, method, body)
            except ValueError as e:
                conn.target = Target(url, "", 0, b"", method, method[:1] + method[1:].lower())
                self._fail(conn, str(e), now)
                return True
            self.redirect_cache[key] = target
        if conn.close or (target.host, target.port) != (conn.target.host, conn.target.port):
            self._close(conn)
        else:
            conn.state = _IDLE
        conn.redirects += 1
        conn.target = target
        conn.retried = False
        self._begin(conn, now)
        return True

    def _fail(self, conn: _Conn, reason: str, now: float) -> None:
        msg = f'{conn.target.verb} "{conn.target.shown or conn.target.url}": {reason}'
        idx = self.err_index.get(msg)
        if idx is None:
            idx = self.err_index[msg] = len(self.err_index)
        rec = self.rec
        rec.offset.append(conn.t_start - self.t0)
        rec.latency.append(now - conn.t_start)
        rec.dial.append(conn.dial)
        rec.dns.append(conn.dns)
        rec.write.append(0.0)
        rec.wait.append(0.0)
        rec.read.append(0.0)
        rec.status.append(0)
        rec.content_length.append(-1)
        rec.nbytes.append(0)
        rec.error.append(idx)
        rec.conn.append(conn.id)
        self.done += 1
        conn.left -= 1
        self._close(conn)
        self.ready.append(conn)  # not _next(): a host that fails at once would recurse

    def _close(self, conn: _Conn) -> None:
        conn.state = _IDLE
        sock = conn.sock
        if sock is None:
            return
        self.fds.pop(conn.fd, None)
        try:
            self.ep.unregister(conn.fd)
        except (OSError, ValueError):
            pass
        sock.close()
        conn.sock = None
        conn.fd = -1

    def _finish_conn(self, conn: _Conn) -> None:
        self._close(conn)
        if conn.left >= 0:
            conn.left = -1
            self.active -= 1


def _is_ip(host: str) -> bool:
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
            return True
        except OSError:
            pass
    return False


def _fmt_addr(sockaddr) -> str:
    if not sockaddr:
        return "?"
    host, port = sockaddr[0], sockaddr[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def run_process(plan: Plan, slot: int, progress, stop_flag, start_value, ready, go, pipe):
    """Entry point of a worker process: prepare, wait for the common start, run, report."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent turns Ctrl-C into a stop
    try:
        worker = Worker(plan, stop_flag, progress, slot)
        ready.release()
        go.wait()
        rec = worker.run(start_value.value)
        if worker.orphaned or os.getppid() != worker.parent:
            return  # a sibling may hold our pipe's read end: sending could block for ever
        pipe.send(("ok", rec))
    except BaseException as e:  # report, never hang the parent
        import traceback

        pipe.send(("error", f"{type(e).__name__}: {e}\n{traceback.format_exc()}"))
    finally:
        pipe.close()
