"""``-list=regexp``: annotated source of the matching functions (pprof's printSource), and a
weblist-like self-contained HTML rendering of the same rows for notebooks.

Source files are found as pprof finds them: a file name is first trimmed (``trim_path``,
or heuristically at the base name of a ``source_path`` directory, and ``/proc/self/cwd/``),
then an absolute path is opened as is, and a relative one is looked up in each
``source_path`` directory (default: the current directory) and its parents. A file that
cannot be read gives the function's header and an ``Error:`` line, as pprof does.
"""
from __future__ import annotations

import errno
import html
import os
import posixpath
import stat

import numpy as np
import pandas as pd

from ..errors import OptionError
from ..options import compile_regex
from .. import units
from .core import Report

_MARGIN = 5  # lines shown before the first and after the last sampled line


def trim_path(path: str, trim: str, search_path: str) -> str:
    """pprof's trimPath."""
    if not trim:
        for directory in [d for d in search_path.split(":") if d] if search_path else []:
            want = "/" + posixpath.basename(directory.rstrip("/") or "/") + "/"
            found = path.find(want)
            if found != -1:
                return path[found + len(want):]
    prefixes = [t for t in trim.split(":") if t] if trim else []
    for prefix in prefixes + ["/proc/self/cwd/./", "/proc/self/cwd/"]:
        if not prefix.endswith("/"):
            prefix += "/"
        if path.startswith(prefix):
            return path[len(prefix):]
    return path


class SourceReader:
    """Reads and caches source files the way pprof's sourceReader does."""

    def __init__(self, search_path: str, trim: str):
        self.search_path = search_path
        self.trim = trim
        self.files: dict[str, list[str]] = {}
        self.errors: dict[str, str] = {}

    def _open(self, path: str) -> list[str]:
        trimmed = trim_path(path, self.trim, self.search_path)
        if posixpath.isabs(trimmed):
            return _read_lines(trimmed)
        for directory in self.search_path.split(":") if self.search_path else [""]:
            while True:
                candidate = posixpath.normpath(posixpath.join(directory, trimmed))
                try:
                    return _read_lines(candidate)
                except OSError:
                    pass
                parent = posixpath.dirname(directory)
                if parent == directory:
                    break
                directory = parent
        raise OSError(f"could not find file {trimmed} on path {self.search_path}")

    def lines(self, path: str) -> list[str]:
        if path not in self.files:
            try:
                self.files[path] = [""] + self._open(path)
            except OSError as exc:
                self.errors[path] = _go_error(exc)
                self.files[path] = [""]
        return self.files[path]


# Source files are read up to this many bytes (lines beyond are not shown): a profile names
# the files, and a name such as /dev/zero must not make a report read without end.
MAX_SOURCE_BYTES = 16 << 20


def _read_lines(path: str) -> list[str]:
    """The lines of a regular file, at most `MAX_SOURCE_BYTES` of it. Devices, FIFOs and
    directories are refused at once (opened non-blocking, so a FIFO without a writer does
    not hang the open)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file (a device, FIFO or directory); not read", path)
        os.set_blocking(fd, True)
        chunks, size = [], 0
        while size < MAX_SOURCE_BYTES:
            chunk = os.read(fd, min(1 << 20, MAX_SOURCE_BYTES - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    text = b"".join(chunks).decode("utf-8", errors="replace")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def _go_error(exc: OSError) -> str:
    """The message Go's os.Open would give (``open /x: no such file or directory``)."""
    if exc.filename is None:
        return str(exc)
    reason = (exc.strerror or str(exc)).lower() if exc.strerror else str(exc)
    return f"open {exc.filename}: {reason}"


def list_frame(rpt: Report) -> pd.DataFrame:
    """One row per printed source line of every matching function and file.

    Index (function, file, line); columns flat, cum (raw sample values), source, and
    error (why the file could not be read, on a single row with line 0).
    """
    if not rpt.argument:
        raise OptionError("list needs a regexp argument: -list=REGEXP")
    rx = compile_regex("list", rpt.argument)
    graph = rpt.graph()
    nodes = graph.nodes
    search_path = rpt.opts.source_path or os.getcwd()
    # pprof cleans up file names with source_path as given (not the cwd default).
    files = np.array([trim_path(f, rpt.opts.trim_path, rpt.opts.source_path) for f in nodes.file], dtype=object)
    selected = [n for n in graph.selected.tolist() if rx.search(nodes.name[n])]
    if not selected:
        raise OptionError(f"no matches found for regexp: {rpt.argument}")
    reader = SourceReader(search_path, rpt.opts.trim_path)
    rows = []
    for name in sorted({nodes.name[n] for n in selected}):
        fn_nodes = [n for n in selected if nodes.name[n] == name]
        with_file = [n for n in fn_nodes if files[n]]
        if not with_file:
            rows.append((name, "", 0, 0, 0, "", "no source information"))
            continue
        for filename in sorted({files[n] for n in with_file}):
            fns = [n for n in with_file if files[n] == filename]
            flat_sum = int(graph.flat[fns].sum())
            cum_sum = int(graph.cum[fns].sum())
            start, end = _line_range(nodes, fns)
            per_line_flat: dict[int, int] = {}
            per_line_cum: dict[int, int] = {}
            for n in fns:
                ln = int(nodes.lineno[n])
                per_line_flat[ln] = per_line_flat.get(ln, 0) + int(graph.flat[n])
                per_line_cum[ln] = per_line_cum.get(ln, 0) + int(graph.cum[n])
            lines = reader.lines(filename)
            error = reader.errors.get(filename)
            rows.append((name, filename, 0, flat_sum, cum_sum, "", error or ""))
            if error:
                continue
            for ln in range(start, end + 1):
                if ln <= 0 or ln >= len(lines):
                    break
                rows.append((name, filename, ln, per_line_flat.get(ln, 0), per_line_cum.get(ln, 0), lines[ln], ""))
    frame = pd.DataFrame(rows, columns=["function", "file", "line", "flat", "cum", "source", "error"])
    frame = frame.set_index(["function", "file", "line"])
    frame.attrs.update(unit=rpt.sample_unit, sample_type=rpt.sample_type, total=rpt.total)
    return frame


def _line_range(nodes, fns: list[int]) -> tuple[int, int]:
    """pprof's getSourceFromFile window: from the function's start line (or the first sampled
    line minus a margin) to the last sampled line plus a margin."""
    first = fns[0]
    start = int(nodes.start_line[first]) or int(nodes.lineno[first]) - _MARGIN
    end = int(nodes.lineno[first]) + _MARGIN
    for n in fns:
        lineno = int(nodes.lineno[n])
        node_start = int(nodes.start_line[n]) or lineno - _MARGIN
        node_end = lineno + _MARGIN
        if node_start < start:
            start = node_start
        elif node_end > end:
            end = node_end
    return max(start, 1), end


def _value_or_dot(rpt: Report, v: int) -> str:
    return "." if v == 0 else rpt.format_value(v)


def list_text(rpt: Report) -> str:
    frame = list_frame(rpt)
    out = [f"Total: {rpt.format_value(rpt.total)}"]
    for (name, filename, line), row in zip(frame.index, frame.itertuples(index=False)):
        if not filename:
            out.append(f"No source information for {name}")
        elif line == 0:
            out.append(f"ROUTINE ======================== {name} in {filename}")
            out.append(f"{rpt.format_value(int(row.flat)):>10} {rpt.format_value(int(row.cum)):>10} "
                       f"(flat, cum) {units.percentage(int(row.cum), rpt.total)} of Total")
            if row.error:
                out.append(f" Error: {row.error}")
        else:
            out.append(f"{_value_or_dot(rpt, int(row.flat)):>10} {_value_or_dot(rpt, int(row.cum)):>10} "
                       f"{line:6d}:{row.source}")
    return "\n".join(out) + "\n"


_CSS = """
.pyprofnb-weblist { font-family: sans-serif; }
.pyprofnb-weblist h2 { font-size: 1.1em; margin: 1em 0 0 0; }
.pyprofnb-weblist .filename { color: #555; margin: 0; font-family: monospace; }
.pyprofnb-weblist pre { font-family: monospace; margin: 0.3em 0 1em 0; }
.pyprofnb-weblist .line { color: #aaa; }
.pyprofnb-weblist .hot { background: #fdd; }
.pyprofnb-weblist .warm { background: #fee; }
.pyprofnb-weblist .error { color: #a00; }
"""


def weblist_html(rpt: Report) -> str:
    """A self-contained HTML page fragment: each matching function's source with flat and
    cum per line, hot lines shaded by their share of the total (no scripts, no server)."""
    frame = list_frame(rpt)
    esc = html.escape
    parts = [f"<div class=\"pyprofnb-weblist\"><style>{_CSS}</style>",
             f"<p>Total: {esc(rpt.format_value(rpt.total))}</p>"]
    open_pre = False
    for (name, filename, line), row in zip(frame.index, frame.itertuples(index=False)):
        if line == 0:
            if open_pre:
                parts.append("</pre>")
                open_pre = False
            if not filename:
                parts.append(f"<h2>{esc(name)}</h2><p class=\"error\">No source information</p>")
                continue
            parts.append(f"<h2>{esc(name)}</h2><p class=\"filename\">{esc(filename)}</p>")
            header = (f"  Total:  {rpt.format_value(int(row.flat)):>10} {rpt.format_value(int(row.cum)):>10} "
                      f"(flat, cum) {units.percentage(int(row.cum), rpt.total)}")
            if row.error:
                parts.append(f"<pre>{esc(header)}\n<span class=\"error\">Error: {esc(row.error)}</span></pre>")
                continue
            parts.append(f"<pre>{esc(header)}")
            open_pre = True
            continue
        share = abs(int(row.cum)) / rpt.total if rpt.total else 0.0
        css = " class=\"hot\"" if share >= 0.1 else " class=\"warm\"" if share >= 0.01 else ""
        parts.append(
            f"<span{css}><span class=\"line\"> {line:6d}</span>  "
            f"{esc(_value_or_dot(rpt, int(row.flat))):>10} {esc(_value_or_dot(rpt, int(row.cum))):>10}  "
            f"{esc(row.source)}</span>"
        )
    if open_pre:
        parts.append("</pre>")
    parts.append("</div>")
    return "\n".join(parts)


from . import register as _register  # noqa: E402  (the package imports this module lazily)

_register("list", frame=list_frame, text=list_text)
_register("weblist", frame=list_frame, text=weblist_html)
