"""pyprofnb loadgen, side by side with the real `hey` on the same servers.

The demo server (the `demo_server` fixture) carries the main comparisons; small stdlib
servers in this module misbehave on purpose (close keep-alive connections, answer garbage,
sleep, answer chunked, redirect) to check that every request still ends as exactly one
status or one error reason, quickly.
"""
from __future__ import annotations

import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import pyprofnb
from pyprofnb.errors import OptionError
from pyprofnb.loadgen import LoadResult, parse_duration, run_load

REPO = Path(__file__).resolve().parents[2]
HEY = shutil.which("hey")
needs_hey = pytest.mark.skipif(HEY is None, reason="hey (Debian package hey) is not installed")


# ---- helpers ------------------------------------------------------------------------------

def ours(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pyprofnb.loadgen", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)


def hey(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([HEY, *args], capture_output=True, text=True, timeout=timeout)


def counts(summary: str) -> tuple[dict, dict]:
    """Status code and error distributions out of a hey-format summary."""
    codes = {int(c): int(n) for c, n in re.findall(r"^  \[(\d+)\]\t(\d+) responses$", summary, re.M)}
    errors = {}
    if "Error distribution:" in summary:
        tail = summary.split("Error distribution:", 1)[1]
        errors = {e: int(n) for n, e in re.findall(r"^  \[(\d+)\]\t(.*)$", tail, re.M)}
    return codes, errors


def skeleton(summary: str) -> list[str]:
    """A summary with its numbers and bars blanked: the layout both tools must share."""
    s = re.sub(r"\u25a0+", "", summary)
    s = re.sub(r"\bNaN\b", "9", s)
    s = re.sub(r"\d+(\.\d+)?", "9", s)
    s = s.split("Error distribution:")[0]  # reasons are worded per tool
    return s.splitlines()


class _Server:
    """A stdlib server on a free port, in a daemon thread."""

    def __init__(self, handler):
        ThreadingHTTPServer.daemon_threads = True
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def _respond(handler, status=200, body=b'{"ok": true}', extra=b""):
    handler.wfile.write(b"HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
                        b"Content-Length: %d\r\n%s\r\n" % (status, len(body), extra) + body)


class Closer(BaseHTTPRequestHandler):
    """Answers as if keeping the connection alive, then closes it after every response."""

    protocol_version = "HTTP/1.1"

    def do_GET(self):
        _respond(self)
        self.close_connection = True

    do_POST = do_GET

    def log_message(self, *a):
        pass


class Misc(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/chunked":
            chunks = [b"hello ", b"chunked ", b"world"]
            data = b"".join(b"%x;ext=1\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\nX-T: 1\r\n\r\n"
            self.wfile.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            for i in range(0, len(data), 7):  # in small pieces, to test the parser's resumption
                self.wfile.write(data[i:i + 7])
                self.wfile.flush()
        elif self.path == "/sleep":
            time.sleep(3)
            _respond(self)
        elif self.path == "/redirect":
            self.wfile.write(b"HTTP/1.1 302 Found\r\nLocation: /ok\r\nContent-Length: 0\r\n\r\n")
        elif self.path == "/loop":
            self.wfile.write(b"HTTP/1.1 302 Found\r\nLocation: /loop\r\nContent-Length: 0\r\n\r\n")
        elif self.path == "/continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            _respond(self, 201)
        elif self.path == "/short":
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly a little")
            self.close_connection = True
        elif self.path == "/close":
            self.wfile.write(b"HTTP/1.1 200 OK\r\n\r\nbody until close")
            self.close_connection = True
        elif self.path == "/500":
            _respond(self, 500)
        else:
            _respond(self)

    do_POST = do_HEAD = do_GET

    def log_message(self, *a):
        pass


class RawServer:
    """A TCP server that answers every connection with fixed bytes (or nothing) and closes."""

    def __init__(self, reply: bytes | None, hold: float = 0.0):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/"
        self.reply, self.hold = reply, hold
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn):
        with conn:
            try:
                conn.recv(65536)
                if self.reply is not None:
                    conn.sendall(self.reply)
                time.sleep(self.hold)
            except OSError:
                pass

    def close(self):
        self.sock.close()


@pytest.fixture(scope="module")
def closer():
    s = _Server(Closer)
    yield s.url
    s.close()


@pytest.fixture(scope="module")
def misc():
    s = _Server(Misc)
    yield s.url
    s.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- side by side with hey on the demo server ------------------------------------------------

@needs_hey
@pytest.mark.parametrize("args", [
    ["-m", "POST", "-c", "8", "-n", "2000"],
    ["-c", "7", "-n", "1000"],  # hey sends n // c per worker: 994
    ["-c", "4", "-n", "400", "-disable-keepalive"],
])
def test_same_counts_as_hey_on_demo_server(demo_server, args):
    url = demo_server + "/sendjson"
    a, b = ours(*args, url), hey(*args, url)
    assert a.returncode == 0, a.stderr
    assert counts(a.stdout) == counts(b.stdout)
    assert skeleton(a.stdout) == skeleton(b.stdout)


@needs_hey
def test_same_counts_as_hey_for_404_and_sizes(demo_server):
    args = ["-n", "300", "-c", "6", demo_server + "/nothing-here"]
    a, b = ours(*args), hey(*args)
    assert counts(a.stdout) == counts(b.stdout) == ({404: 300}, {})
    size = re.search(r"Total data:\t(\d+) bytes", a.stdout).group(1)
    assert size == re.search(r"Total data:\t(\d+) bytes", b.stdout).group(1)


@needs_hey
def test_csv_like_hey(demo_server):
    args = ["-n", "50", "-c", "5", "-o", "csv", demo_server + "/sendjson"]
    a, b = ours(*args), hey(*args)
    la, lb = a.stdout.splitlines(), b.stdout.splitlines()
    assert la[0] == lb[0]
    assert len(la) == len(lb) == 51
    assert all(re.fullmatch(r"(\d+\.\d{4},){6}200,\d+\.\d{4}", row) for row in la[1:])


@needs_hey
def test_duration_and_rate_limit_like_hey(demo_server):
    # -q 20 per worker for 1 s with 2 workers: about 40 requests, for both tools.
    args = ["-z", "1s", "-q", "20", "-c", "2", demo_server + "/sendjson"]
    t = time.monotonic()
    a = ours(*args)
    took = time.monotonic() - t
    b = hey(*args)
    na, nb = sum(counts(a.stdout)[0].values()), sum(counts(b.stdout)[0].values())
    assert abs(na - nb) <= 6, (na, nb)
    assert 30 <= na <= 44
    assert took < 5


# ---- servers that misbehave ----------------------------------------------------------------

@needs_hey
def test_server_closing_keepalive_connections(closer):
    args = ["-n", "600", "-c", "6", closer + "/"]
    a, b = ours(*args), hey(*args)
    assert counts(a.stdout) == counts(b.stdout) == ({200: 600}, {})
    # hey does not resend a POST with a body on a connection the server closed while idle,
    # so its counts vary run to run ("EOF", "server closed idle connection"); the request
    # never reached the server, and we resend it.
    a = ours("-m", "POST", "-d", "x=1", *args)
    assert counts(a.stdout) == ({200: 600}, {})


def test_garbage_answer_counted_not_raised():
    srv = RawServer(b"SSH-2.0-OpenSSH_9.2\r\nthis is not http\r\n\r\n")
    try:
        res = run_load(srv.url, n=40, c=4, timeout=5)
    finally:
        srv.close()
    assert res.requests == 40 and res.responses == 0
    (reason, n), = res.error_distribution.items()
    assert n == 40 and "malformed HTTP response" in reason and "SSH-2.0" in reason


def test_connection_closed_without_answer():
    srv = RawServer(None)
    try:
        res = run_load(srv.url, n=20, c=2, timeout=5)
    finally:
        srv.close()
    assert res.requests == 20
    assert sum(n for e, n in res.error_distribution.items() if e.endswith(": EOF")) == 20


def test_silent_server_times_out():
    srv = RawServer(None, hold=10)
    try:
        t = time.monotonic()
        res = run_load(srv.url, n=4, c=4, timeout=0.5)
        took = time.monotonic() - t
    finally:
        srv.close()
    assert took < 4
    (reason, n), = res.error_distribution.items()
    assert n == 4 and "Client.Timeout exceeded" in reason


@needs_hey
def test_password_not_shown_in_reasons():
    res = run_load(f"http://bill:secret@127.0.0.1:{_free_port()}/", n=2, c=1)
    (reason, n), = res.error_distribution.items()
    assert "secret" not in reason and "bill:xxxxx@" in reason


@needs_hey
def test_refused_connection_like_hey():
    url = f"http://127.0.0.1:{_free_port()}/"
    a, b = ours("-n", "30", "-c", "3", url), hey("-n", "30", "-c", "3", url)
    assert a.returncode == 0
    assert counts(a.stdout) == counts(b.stdout)  # same reason text as Go's
    assert "Average:\t NaN secs" in a.stdout
    assert skeleton(a.stdout) == skeleton(b.stdout)


def test_unreachable_and_unknown_hosts_end_quickly():
    t = time.monotonic()
    res = run_load("http://192.0.2.1:81/", n=2, c=2, timeout=1)  # TEST-NET-1: never answers
    assert time.monotonic() - t < 6
    assert res.requests == 2 and res.errors == 2
    res = run_load("http://no-such-host.invalid/", n=3, c=1, timeout=2)
    (reason, n), = res.error_distribution.items()
    assert n == 3 and "lookup no-such-host.invalid" in reason


def test_sleeping_server_timeouts_and_answers_mixed(misc):
    res = run_load(misc + "/sleep", n=2, c=2, timeout=1)
    assert res.errors == 2 and res.total < 3
    res = run_load(misc + "/sleep", n=1, c=1, timeout=0)  # 0: wait as long as it takes
    assert res.status_codes == {200: 1}


def test_chunked_continue_short_and_read_to_close(misc):
    res = run_load(misc + "/chunked", n=20, c=2)
    assert res.status_codes == {200: 20}
    assert set(res.df["bytes"]) == {len(b"hello chunked world")}
    assert res.total_bytes == 0  # as in hey: no Content-Length, no size
    res = run_load(misc + "/continue", n=10, c=2)
    assert res.status_codes == {201: 10}
    res = run_load(misc + "/close", n=10, c=2)
    assert res.status_codes == {200: 10} and set(res.df["bytes"]) == {16}
    res = run_load(misc + "/short", n=10, c=2)
    assert res.error_distribution == {f'Get "{misc}/short": unexpected EOF': 10}


@needs_hey
def test_redirects_like_hey(misc):
    for args in (["-n", "20", "-c", "2"], ["-n", "20", "-c", "2", "-disable-redirects"]):
        a, b = ours(*args, misc + "/redirect"), hey(*args, misc + "/redirect")
        assert counts(a.stdout) == counts(b.stdout)
    a = ours("-n", "2", "-c", "1", misc + "/loop")
    assert counts(a.stdout) == ({}, {f'Get "{misc}/loop": stopped after 10 redirects': 2})


def test_proxy_host_and_request_headers():
    seen, heads = [], []

    class Proxy(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            seen.append((self.path, self.headers["Host"]))
            heads.append(dict(self.headers))
            _respond(self)

        def log_message(self, *a):
            pass

    srv = _Server(Proxy)
    try:
        proxy = srv.url.removeprefix("http://")
        res = run_load("http://service.invalid:8080/a?b=1", n=3, c=1, proxy=proxy)
        assert res.status_codes == {200: 3}
        assert seen[0] == ("http://service.invalid:8080/a?b=1", "service.invalid:8080")
        res = run_load(srv.url + "/x", n=2, c=1, host="example.org")
        assert res.status_codes == {200: 2} and seen[-1] == ("/x", "example.org")
        # hey's header rules: -T sets Content-Type, -H replaces by name, -a is basic auth
        assert ours("-n", "1", "-c", "1", "-T", "application/json", "-H", "x-trace: 7",
                    "-H", "content-type: text/plain", "-a", "bill:secret", "-A", "*/*",
                    srv.url + "/h").returncode == 0
        h = heads[-1]
        assert h["Content-Type"] == "text/plain" and h["X-Trace"] == "7"
        assert h["Authorization"] == "Basic YmlsbDpzZWNyZXQ=" and h["Accept"] == "*/*"
        assert h["Accept-Encoding"] == "gzip" and "hey-compatible" in h["User-Agent"]
        # credentials in the URL: basic auth, as Go's client does; redacted in reasons
        url = srv.url.replace("http://", "http://bill:secret@") + "/u"
        assert run_load(url, n=1, c=1).status_codes == {200: 1}
        assert heads[-1]["Authorization"] == "Basic YmlsbDpzZWNyZXQ="
    finally:
        srv.close()


def test_head_and_status_mix(misc):
    res = run_load(misc + "/", n=10, c=2, method="HEAD")
    assert res.status_codes == {200: 10}
    res = run_load(misc + "/500", n=10, c=2, method="POST", body="x")
    assert res.status_codes == {500: 10}


# ---- the Python API -----------------------------------------------------------------------------

def test_run_load_result_and_dataframe(demo_server):
    res = pyprofnb.loadgen.run_load(demo_server + "/sendjson", n=500, c=5, method="POST",
                                    headers={"X-Test": "1"}, body=b"{}")
    assert isinstance(res, LoadResult)
    assert res.requests == 500 and res.status_codes == {200: 500} and res.errors == 0
    assert res.rps > 0 and 0 < res.fastest <= res.average <= res.slowest
    assert set(res.percentiles) == {10, 25, 50, 75, 90, 95, 99}
    df = res.df
    assert len(df) == 500
    assert list(df.columns) == ["start", "latency", "status", "bytes", "content_length", "error",
                                "dns_dialup", "dns_lookup", "req_write", "resp_wait", "resp_read",
                                "connection"]
    assert df["start"].is_monotonic_increasing and df["error"].isna().all()
    assert df["connection"].nunique() == 5
    assert res.summary().startswith("\nSummary:\n  Total:\t")
    assert "[200]\t500 responses" in str(res)


def test_background_run_stops(demo_server):
    run = run_load(demo_server + "/sendjson", c=2, duration=30, background=True)
    time.sleep(0.5)
    assert not run.done
    t = time.monotonic()
    res = run.stop()
    assert time.monotonic() - t < 3
    assert run.done and res.requests > 0 and res.requests == res.status_codes.get(200)
    with run_load(demo_server + "/sendjson", n=100, c=2, background=True) as run2:
        pass
    assert run2.result.requests <= 100


def test_cpu_profile_taken_under_load(demo_server):
    # the tutorial: put load on the service while a CPU profile is collected
    with run_load(demo_server + "/sendjson", c=4, method="POST", duration="60s",
                  background=True) as run:
        prof = pyprofnb.load(demo_server + "/debug/pprof/profile", seconds=1)
        assert not run.done
    res = run.result
    assert res.requests > 100 and res.status_codes == {200: res.requests}
    assert res.total < 30
    assert prof.sample_types[1].type == "cpu"


def test_background_wait(demo_server):
    run = run_load(demo_server + "/sendjson", n=200, c=4, background=True)
    res = run.wait(timeout=30)
    assert run.done and res.status_codes == {200: 200}


def test_api_option_errors():
    with pytest.raises(OptionError, match=r"n \(5\) cannot be less than c \(10\)"):
        run_load("http://127.0.0.1:1/", n=5, c=10)
    with pytest.raises(OptionError, match="https"):
        run_load("https://example.com/")
    with pytest.raises(OptionError, match="duration"):
        run_load("http://127.0.0.1:1/", duration="ten seconds")
    assert parse_duration("1m30s") == 90 and parse_duration("250ms") == 0.25


# ---- command-line errors: one line, exit status 2 -------------------------------------------

@pytest.mark.parametrize("args, words", [
    (["-n", "abc", "http://x/"], "-n must be an integer, got 'abc'"),
    (["-z", "10", "http://x/"], "-z must be a duration"),
    (["-H", "no colon", "http://x/"], "-H must be 'Name: value'"),
    (["-h2", "http://x/"], "HTTP/2 is not supported"),
    (["-o", "json", "http://x/"], '-o must be "csv"'),
    (["-n", "5", "-c", "10", "http://x/"], "-n (5) cannot be less than -c (10)"),
    (["-n", "10"], "missing URL"),
    (["-bogus", "http://x/"], "flag provided but not defined: -bogus"),
    (["https://example.com/"], "https URLs are not supported"),
    (["-D", "/no/such/file", "http://x/"], "-D: cannot read '/no/such/file'"),
    (["-q", "-1", "http://x/"], "-q must be a number >= 0"),
    (["-t"], "-t needs a value"),
])
def test_bad_flags(args, words, capsys):
    assert pyprofnb.loadgen.main(args) == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1 and words in lines[0], err


@pytest.mark.parametrize("verb", ["loadgen", "load"])
def test_pyprofnb_loadgen_command(demo_server, verb):
    r = subprocess.run([sys.executable, "-m", "pyprofnb", verb, "-n", "20", "-c", "2",
                        demo_server + "/sendjson"], cwd=REPO, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert counts(r.stdout) == ({200: 20}, {})
    # The old verb still works, and says which one to use.
    deprecated = "pyprofnb: 'pyprofnb load' is deprecated, use 'pyprofnb loadgen' (same flags)\n"
    assert r.stderr == (deprecated if verb == "load" else "")


def test_bad_flag_exit_status_from_a_shell():
    r = ours("-c", "zero", "http://127.0.0.1:1/", timeout=30)
    assert (r.returncode, r.stdout) == (2, "")
    assert r.stderr == "pyprofnb loadgen: -c must be an integer, got 'zero'\n"
