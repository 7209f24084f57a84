"""Fetch profiles over HTTP, as go tool pprof does: default path, ``seconds``, timeouts, and
the server's own error message when it sends one (``X-Go-Pprof: 1``)."""
from __future__ import annotations

import re
import urllib.parse

from .errors import FetchError
from .codec.proto import DEFAULT_MAX_BYTES

_HOSTPORT = re.compile(r"^[A-Za-z0-9.\-]+:\d+(/.*)?$")
DEFAULT_TIMEOUT = 60


def is_url(source: str) -> bool:
    """http(s) URLs and bare ``host:port[/path]`` (go tool pprof accepts both)."""
    return source.startswith(("http://", "https://", "https+insecure://")) or bool(_HOSTPORT.match(source))


def profile_url(source: str, seconds: int | None = None) -> str:
    """The URL to fetch: scheme added, empty path -> /debug/pprof/profile, ``seconds`` set."""
    url = source if "://" in source else "http://" + source
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port  # raises ValueError on a bad port
    except ValueError as exc:
        raise FetchError(f"{source!r} is not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https", "https+insecure") or not parts.hostname:
        raise FetchError(f"{source!r} is not a valid URL: expected http://host:port/path")
    del port
    path = parts.path if parts.path not in ("", "/") else "/debug/pprof/profile"
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    if seconds is not None:
        query = [(k, v) for k, v in query if k != "seconds"] + [("seconds", str(seconds))]
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, urllib.parse.urlencode(query), ""))


def _timeout_for(url: str, timeout: int | None) -> float:
    if timeout is not None:
        return float(timeout)
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
    seconds = query.get("seconds")
    if seconds and seconds.isdigit():
        return max(1.5 * int(seconds), int(seconds) + 10)
    if urllib.parse.urlsplit(url).path.endswith("/profile"):
        return 1.5 * 30 + 10  # the server's default CPU profile is 30 s
    return DEFAULT_TIMEOUT


def fetch(source: str, *, seconds: int | None = None, timeout: int | None = None,
          max_bytes: int = DEFAULT_MAX_BYTES, session=None) -> bytes:
    """The body of a profile URL; FetchError says what went wrong (never a raw traceback)."""
    import requests

    url = profile_url(source, seconds)
    verify = not url.startswith("https+insecure://")
    url = url.replace("https+insecure://", "https://", 1)
    http = session or requests
    seconds_allowed = _timeout_for(url, timeout)
    try:
        with http.get(url, timeout=seconds_allowed, stream=True, verify=verify) as resp:
            if resp.status_code != 200:
                body = resp.raw.read(4096, decode_content=True).decode("utf-8", "replace").strip()
                detail = body if resp.headers.get("X-Go-Pprof") or resp.headers.get("Content-Type", "").startswith("text/plain") else ""
                msg = f"server response: {resp.status_code} {resp.reason}"
                raise FetchError(f"fetching {url}: {msg}" + (f" - {detail}" if detail else ""))
            chunks, size = [], 0
            for chunk in resp.iter_content(1 << 20):
                size += len(chunk)
                if size > max_bytes:
                    raise FetchError(f"fetching {url}: response is larger than {max_bytes} bytes")
                chunks.append(chunk)
            return b"".join(chunks)
    except requests.exceptions.Timeout:
        raise FetchError(f"fetching {url}: no answer within {seconds_allowed:g} s (use -timeout)") from None
    except requests.exceptions.ConnectionError as exc:
        reason = _short_reason(exc)
        if "closed connection" in reason or "reset" in reason:
            raise FetchError(f"fetching {url}: the server dropped the connection before answering ({reason})") from None
        raise FetchError(f"fetching {url}: cannot connect ({reason}); is the server running?") from None
    except requests.exceptions.RequestException as exc:
        raise FetchError(f"fetching {url}: {_short_reason(exc)}") from None


def _short_reason(exc: Exception) -> str:
    text = str(exc)
    for pattern in (r"\[Errno -?\d+\] ([^'\")]+)", r"(Connection refused)", r"(Connection reset by peer)",
                    r"(Remote end closed connection without response)", r"(IncompleteRead[^)]*\))"):
        m = re.search(pattern, text)
        if m:
            return m.group(1).strip()
    return text.split(":")[-1].strip() or type(exc).__name__
