"""Fetching profiles over HTTP: Go's URL defaults, the server's own error text, and servers
that refuse, hang, vanish mid-answer or send garbage — each a FetchError that says so,
within the timeout, never a traceback."""
from __future__ import annotations

import socket
import threading

import pytest

import pyprofnb
from pyprofnb.cli import main
from pyprofnb.errors import FetchError, PprofError
from pyprofnb.fetch import profile_url


def test_profile_url_defaults_like_go_tool_pprof():
    assert profile_url("127.0.0.1:6060") == "http://127.0.0.1:6060/debug/pprof/profile"
    assert profile_url("http://h:1/debug/pprof/heap", seconds=5) == "http://h:1/debug/pprof/heap?seconds=5"
    assert profile_url("http://h:1/debug/pprof/profile?seconds=30", seconds=2).endswith("?seconds=2")
    for bad in ("http://[::1", "http://127.0.0.1:99999/x", "ftp://h/x", "http:///nohost"):
        with pytest.raises(FetchError, match="not a valid URL"):
            profile_url(bad)


def one_shot_server(answer: bytes | None, *, hold: float = 0.0):
    """A socket server that reads one request and sends ``answer`` (None: close at once)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()

    def run():
        conn, _ = srv.accept()
        with conn:
            conn.recv(65536)
            if hold:
                threading.Event().wait(hold)
            if answer:
                conn.sendall(answer)
        srv.close()

    threading.Thread(target=run, daemon=True).start()
    return f"http://127.0.0.1:{srv.getsockname()[1]}/debug/pprof/heap"


@pytest.mark.parametrize("answer, message", [
    (None, "dropped the connection"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n\x1f\x8b\x08\x00part", "IncompleteRead|dropped|truncated"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nnot proto", "not a valid profile|profile"),
    (b"HTTP/1.1 500 Internal Server Error\r\nX-Go-Pprof: 1\r\nContent-Type: text/plain\r\n"
     b"Content-Length: 60\r\n\r\nCould not enable CPU profiling: cpu profiling already in use",
     "500.*cpu profiling already in use"),
    (b"SSH-2.0-OpenSSH\r\n", "dropped|BadStatusLine|connection"),
])
def test_bad_servers_give_one_clear_error(answer, message):
    url = one_shot_server(answer)
    with pytest.raises(PprofError, match=message):
        pyprofnb.load(url, timeout=10)


def test_refused_and_hanging_servers():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(FetchError, match="is the server running"):
        pyprofnb.load(f"http://127.0.0.1:{port}/debug/pprof/heap")
    url = one_shot_server(None, hold=5)
    with pytest.raises(FetchError, match="no answer within 1 s"):
        pyprofnb.load(url, timeout=1)


def test_cli_prints_the_server_message(capsys):
    url = one_shot_server(b"HTTP/1.1 404 Not Found\r\nX-Go-Pprof: 1\r\nContent-Type: text/plain\r\n"
                          b"Content-Length: 15\r\n\r\nUnknown profile")
    assert main(["-top", url]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("pyprofnb: fetching") and err.endswith("404 Not Found - Unknown profile")


def test_real_demo_server_errors_reach_the_user(demo_server):
    with pytest.raises(FetchError, match="400.*seconds"):
        pyprofnb.load(demo_server + "/debug/pprof/heap?seconds=abc")
    with pytest.raises(FetchError, match="404.*Unknown profile"):
        pyprofnb.load(demo_server + "/debug/pprof/nosuchprofile")
