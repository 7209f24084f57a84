"""Pre-fork servers (gunicorn, uvicorn --workers, any fork-based server): whichever worker a
request for ``profile``, ``wall``, ``heap``, ``allocs`` or ``goroutine`` lands on answers
with the merged profile of all the server's workers, every sample labelled ``pid`` (and
``worker``, gunicorn's worker number, where known); ``?pid=N`` asks one worker only.

How. The workers of one server form a *group*, named after the process that forked them
(the *leader*: gunicorn's master). Each worker listens on a private Unix socket in Linux's
abstract namespace, ``pyprofnb-<uid>/server-<leader pid>-<leader start time>/<pid>[.w<worker>]``,
found through /proc/net/unix. Abstract sockets have no file: a worker that dies, however it
dies (SIGKILL, the OOM killer, uvicorn re-raising SIGTERM after its shutdown), takes its socket
with it, so nothing is ever left on disk and there is nothing stale to clean up. They have no
file permissions either, so both ends check the peer's uid (SO_PEERCRED): only processes of
the same user ask or answer. The worker that got the HTTP request asks every other member,
concurrently, runs its own share in the meantime, and merges the answers (what a member runs
is `handlers.handle` with ``local=True``; the wire format is one JSON line each way, then
the body).

A process is a worker when (checked in this order):

- it was forked by a process that had enabled the endpoints (gunicorn ``--preload``, or any
  server that builds its app before forking): the parent leads;
- it is a gunicorn worker (gunicorn is imported and a gunicorn ``Worker`` object has our pid):
  the arbiter leads, and the worker's ``age`` is its ``worker`` label;
- it was started by ``multiprocessing`` (uvicorn ``--workers``): the parent leads;
- its parent runs the same executable with the same command line (a fork without exec).

Otherwise it serves alone, as before. ``PYPROFNB_PREFORK=0`` in the environment turns all
of this off.

Dead and replaced workers: a worker that has died is simply no longer listed; one that
dies while it is being profiled leaves a note in the merged profile's comments
(``pprof -comments``) instead of failing the request; a replacement joins when it starts.
"""
from __future__ import annotations

import gc
import json
import os
import select
import socket
import socketserver
import struct
import sys
import threading
import time
from dataclasses import dataclass
from typing import Callable

CONNECT_TIMEOUT = 5.0  # a live member accepts at once; longer means it is stuck
EXTRA_TIMEOUT = 60.0  # beyond the profile's own seconds, for building and sending it
_MAX_HEADER = 1 << 20


@dataclass(frozen=True)
class Member:
    pid: int
    worker: str  # "" when unknown
    path: str

    @property
    def title(self) -> str:
        return f"pid {self.pid}" + (f" (worker {self.worker})" if self.worker else "")


# ------------------------------------------------------------------ where groups live

def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (/proc/PID/stat field 22): with
    the pid it names one process for good, even after the pid is reused."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def group_name(leader: int) -> str | None:
    """``pyprofnb-<uid>/server-<leader pid>-<leader start time>``, or None if it is gone."""
    started = _start_time(leader)
    if started is None:
        return None
    return f"pyprofnb-{os.getuid()}/server-{leader}-{started}"


_ACCEPTCON = 0x10000  # /proc/net/unix flag of a listening socket


def listening(prefix: str = f"pyprofnb-{os.getuid()}/") -> list[Member]:
    """Every member socket whose abstract name starts with ``prefix`` (Linux /proc/net/unix)."""
    out = {}
    try:
        with open("/proc/net/unix") as fh:
            next(fh)
            for line in fh:
                fields = line.split()
                if len(fields) < 8 or not fields[7].startswith("@" + prefix):
                    continue
                if not int(fields[3], 16) & _ACCEPTCON:
                    continue
                name = fields[7][1:]
                base = name.rsplit("/", 1)[1]
                pid, _, worker = base.partition(".w")
                if pid.isdigit():
                    out[name] = Member(int(pid), worker, name)
    except (OSError, StopIteration):
        return []
    return sorted(out.values(), key=lambda m: (int(m.worker) if m.worker.isdigit() else 0, m.pid))


def _address(name: str) -> bytes:
    return b"\0" + name.encode()


def _peer_uid(sock: socket.socket) -> int:
    pid, uid, gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
    return uid


# ------------------------------------------------------------------ membership

class _Group:
    def __init__(self, leader: int, name: str, worker: str):
        self.leader = leader
        self.name = name
        self.me = Member(os.getpid(), worker, f"{name}/{os.getpid()}{'.w' + worker if worker else ''}")
        self.server: socketserver.ThreadingUnixStreamServer | None = None

    def members(self) -> list[Member]:
        """The members listening now (a process that died took its socket with it)."""
        found = listening(self.name + "/")
        if not any(m.pid == self.me.pid for m in found):
            found.append(self.me)
        return found


_lock = threading.Lock()
_group: _Group | None = None
_local_handler: Callable | None = None  # handlers.handle, given by `join`
_prepared_here = False  # this process enabled the endpoints: its fork children are workers
_forked_from: int | None = None  # set in a fork child of a process that had them enabled


def current() -> _Group | None:
    return _group


def enabled() -> bool:
    return os.environ.get("PYPROFNB_PREFORK", "1").strip().lower() not in ("0", "false", "no", "off")


def _gunicorn_worker() -> str | None:
    """The gunicorn worker number (``age``) of this process, or None if it is no gunicorn worker."""
    base = sys.modules.get("gunicorn.workers.base")
    if base is None:
        return None
    me = os.getpid()
    for obj in gc.get_objects():
        # In a fork child gunicorn has not yet told the new Worker its pid.
        if isinstance(obj, base.Worker) and (
                obj.pid == me or (obj.pid == "[booting]" and getattr(obj, "ppid", None) == os.getppid())):
            return str(getattr(obj, "age", ""))
    return None


def _same_program_as_parent() -> bool:
    ppid = os.getppid()
    try:
        with open("/proc/self/cmdline", "rb") as fh:
            mine = fh.read()
        with open(f"/proc/{ppid}/cmdline", "rb") as fh:
            theirs = fh.read()
        return mine == theirs and os.readlink("/proc/self/exe") == os.readlink(f"/proc/{ppid}/exe")
    except OSError:
        return False


def _leader_and_worker() -> tuple[int, str] | None:
    if _forked_from is not None and _forked_from == os.getppid():
        return _forked_from, _gunicorn_worker() or ""
    worker = _gunicorn_worker()
    if worker is not None:
        return os.getppid(), worker
    import multiprocessing

    parent = multiprocessing.parent_process()
    if parent is not None and parent.pid:
        return parent.pid, ""
    if os.getppid() > 1 and _same_program_as_parent():
        return os.getppid(), ""
    return None


def join(local_handler: Callable) -> _Group | None:
    """Called where the endpoints are enabled (`handlers.prepare`): if this process is a
    worker of a pre-fork server, listen on its socket; returns the group, or None."""
    global _group, _local_handler, _prepared_here
    with _lock:
        _local_handler = local_handler
        _prepared_here = True
        if _group is not None or not enabled() or not sys.platform.startswith("linux"):
            return _group
        found = _leader_and_worker()
        if found is None:
            return None
        leader, worker = found
        name = group_name(leader)
        if name is None:
            return None
        group = _Group(leader, name, worker)
        try:
            group.server = _MemberServer(_address(group.me.path), _MemberRequest)
        except OSError as exc:
            print(f"pyprofnb: not joining the pre-fork group of pid {leader}: {exc}", file=sys.stderr)
            return None
        threading.Thread(target=group.server.serve_forever, name="pyprofnb-prefork-member", daemon=True).start()
        _group = group
        return group


def leave() -> None:
    """Stop listening (the socket's name goes with it)."""
    global _group
    with _lock:
        group, _group = _group, None
    if group is not None and group.server is not None:
        group.server.shutdown()
        group.server.server_close()


def _after_fork_in_child() -> None:
    """A fork child: the parent's listener thread does not exist here and its socket is the
    parent's; a child of a process that enabled the endpoints is one of its workers."""
    global _group, _lock, _forked_from
    _lock = threading.Lock()
    group, _group = _group, None
    if group is not None and group.server is not None:
        try:
            group.server.socket.close()
        except OSError:
            pass
    if _prepared_here and group is None:
        _forked_from = os.getppid()
        if _local_handler is not None:
            join(_local_handler)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


# ------------------------------------------------------------------ member side

class _MemberServer(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True
    block_on_close = False

    def verify_request(self, request, client_address) -> bool:
        # An abstract socket has no file permissions: only our own user may ask.
        try:
            return _peer_uid(request) == os.getuid()
        except OSError:
            return False


class _MemberRequest(socketserver.StreamRequestHandler):
    def handle(self):
        from .stdlib import client_disconnected

        line = self.rfile.readline(_MAX_HEADER)
        try:
            request = json.loads(line)
            method, path, query = request["method"], request["path"], request["query"]
        except (ValueError, KeyError, TypeError):
            return
        handler = _local_handler
        if handler is None:
            return
        response = handler(method, path, query, b"", lambda: client_disconnected(self.connection), local=True)
        if response is None:
            return
        status, headers, body = response
        head = json.dumps({"status": status, "headers": headers, "length": len(body)}).encode() + b"\n"
        try:
            self.wfile.write(head + body)
        except OSError:
            pass


# ------------------------------------------------------------------ gathering side

@dataclass
class Answer:
    member: Member
    status: int = 0
    headers: list | None = None
    body: bytes = b""
    problem: str = ""  # why there is no answer


def ask(member: Member, method: str, path: str, query: str, timeout: float,
        cancel: threading.Event | None = None) -> Answer:
    """One member's answer to the request, or the reason there is none. Setting ``cancel``
    hangs up, which ends the member's timed profile early (it sees its client leave)."""
    answer = Answer(member)
    cancel = cancel or threading.Event()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(CONNECT_TIMEOUT)
        try:
            sock.connect(_address(member.path))
        except OSError as exc:
            answer.problem = "had exited" if not _alive(member.pid) else f"could not be reached ({exc.strerror or exc})"
            return answer
        if _peer_uid(sock) != os.getuid():
            answer.problem = "is listened to by another user's process: not asked"
            return answer
        sock.sendall(json.dumps({"method": method, "path": path, "query": query}).encode() + b"\n")
        deadline = time.monotonic() + timeout
        while not select.select([sock], [], [], 0.1)[0]:
            if cancel.is_set():
                answer.problem = "was not waited for: the client went away"
                return answer
            if time.monotonic() > deadline:
                answer.problem = f"did not answer within {timeout:g} s"
                return answer
        sock.settimeout(max(1.0, deadline - time.monotonic()))
        reader = sock.makefile("rb")
        line = reader.readline(_MAX_HEADER)
        if not line:
            answer.problem = ("exited during the request" if not _wait_dead(member.pid)
                              else "closed the connection without answering")
            return answer
        head = json.loads(line)
        body = reader.read(head["length"])
        if len(body) != head["length"]:
            answer.problem = "exited while sending its answer"
            return answer
        answer.status, answer.headers, answer.body = head["status"], head["headers"], body
        return answer
    except socket.timeout:
        answer.problem = f"did not answer within {timeout:g} s"
        return answer
    except (OSError, ValueError, KeyError, TypeError) as exc:
        answer.problem = f"answered badly ({exc})"
        return answer
    finally:
        sock.close()


def _wait_dead(pid: int, grace: float = 0.5) -> bool:
    """True if ``pid`` is still alive after a short grace (a dying process closes its
    sockets a moment before it disappears)."""
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not _alive(pid) or _zombie(pid):
            return False
        time.sleep(0.02)
    return True


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (OSError, IndexError):
        return True


def gather(members: list[Member], me: Member, method: str, path: str, query: str, timeout: float,
           local: Callable[[], object], is_disconnected: Callable[[], bool]) -> tuple[object, list[Answer]]:
    """Ask every member but ``me`` concurrently while ``local()`` runs here (if ``me`` is
    among ``members``); returns (local result, the others' answers in member order). When
    the client disconnects the members are hung up on."""
    others = [m for m in members if m.pid != me.pid]
    answers: list[Answer | None] = [None] * len(others)
    cancel = threading.Event()

    def run(i, m):
        from ..collect import paused

        with paused():  # passing profiles around is pyprofnb's work, not the service's
            answers[i] = ask(m, method, path, query, timeout, cancel)

    threads = [threading.Thread(target=run, args=(i, m), name="pyprofnb-prefork-ask", daemon=True)
               for i, m in enumerate(others)]
    for t in threads:
        t.start()
    result = None
    if any(m.pid == me.pid for m in members):
        result = local()
        if result is None:  # the client went away during our own share
            cancel.set()
    for t in threads:
        while t.is_alive():
            t.join(0.1)
            if not cancel.is_set() and is_disconnected():
                cancel.set()
    return result, answers


__all__ = ["Answer", "Member", "ask", "current", "enabled", "gather", "group_name", "join", "leave", "listening"]
