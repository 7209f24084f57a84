"""The views of the web UI as HTML fragments, each a rendering of the same reports the
command and the notebook use (``pyprofnb.report``): top, graph, flame graph, peek, source.

    >>> from pyprofnb.web.views import render_view
    >>> fragment = render_view(prof, ViewState(view="top", si="alloc_space"))

A fragment carries no script of its own; the page's script (``static/app.js``) makes tables
sortable, graphs pannable and nodes selectable by reading ``data-`` attributes.
"""
from __future__ import annotations

import html
import json
import re
import subprocess

from ..errors import PprofError
from ..options import ReportOptions
from ..model import Profile
from ..report import make_report, prepare, render_text
from ..report import dot as dot_report
from ..report import flame as flame_report
from .. import units
from .state import ViewState

# Source view without a regexp: this many hottest functions (Go lists all; a Python profile
# can hold thousands of functions, most of them library code nobody asked to read).
SOURCE_DEFAULT_FUNCTIONS = 8

_NODELET_DEF = re.compile(r"^N+\d+(?:_\d+)+ \[")
_NODELET_EDGE = re.compile(r"-> N+\d+(?:_\d+)+ \[")


def function_regexp(names) -> str:
    """A regexp matching exactly these function names (what selecting nodes builds)."""
    return "|".join("^" + re.escape(n) + "$" for n in dict.fromkeys(names))


def _esc(text) -> str:
    return html.escape(str(text), quote=True)


# ---------------------------------------------------------------------- top

def top_view(prof: Profile, opts: ReportOptions, state: ViewState) -> str:
    """The top table: every node, sortable by any column (click its header), each row
    selectable (its function goes into the regexp box)."""
    frame = make_report(prof, "top", options=opts)
    unit = frame.attrs.get("unit", "count")
    out_unit = frame.attrs.get("output_unit") or "minimum"
    fmt = lambda v: units.scaled_label(int(v), unit, out_unit)  # noqa: E731
    rows = []
    for name, r in frame.iterrows():
        inline = f' <span class="inl">{_esc(r["inline"])}</span>' if r["inline"] else ""
        rows.append(
            f'<tr data-fn="{_esc(r["function"])}">'
            f'<td data-v="{int(r["flat"])}">{_esc(fmt(r["flat"]))}</td>'
            f'<td data-v="{r["flat%"]:.4f}">{r["flat%"]:.2f}%</td>'
            f'<td data-v="{r["sum%"]:.4f}">{r["sum%"]:.2f}%</td>'
            f'<td data-v="{int(r["cum"])}">{_esc(fmt(r["cum"]))}</td>'
            f'<td data-v="{r["cum%"]:.4f}">{r["cum%"]:.2f}%</td>'
            f'<td class="name" data-v="{_esc(name)}">{_esc(name)}{inline}</td></tr>'
        )
    heads = "".join(f'<th data-col="{i}" title="sort by {c}">{c}</th>' for i, c in enumerate(
        ("flat", "flat%", "sum%", "cum", "cum%", "name")))
    header = "\n".join(frame.attrs.get("header") or [])
    return (f'<div class="pp-top"><pre class="pp-header">{_esc(header)}</pre>'
            f'<table class="pp-table" data-sort="{"3" if state.sort == "cum" else ""}"><thead><tr>{heads}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>')


# ---------------------------------------------------------------------- graph

def graph_dot(prof: Profile, opts: ReportOptions) -> tuple[str, dict[str, str]]:
    """The DOT of the call graph (go tool pprof's, byte for byte) and the function name of
    each DOT node ("N3" -> name; an SVG node's <title> is its DOT name)."""
    rpt = prepare(prof, "svg", opts)
    graph, order, *_ = dot_report.visual_graph(rpt)
    names = {f"N{i + 1}": str(graph.nodes.name[n]) for i, n in enumerate(order.tolist())}
    return dot_report.dot_text(prepare(prof, "svg", opts)), names


def without_label_boxes(text: str) -> str:
    """The DOT without label boxes (one per distinct label set: with per-thread labels, four
    boxes under every node). What we draw by default; ``-dot``/``-svg`` keep them as Go does."""
    return "".join(line.replace(" minlen=2", "") for line in text.splitlines(True)
                   if not _NODELET_DEF.match(line) and not _NODELET_EDGE.search(line))


def run_dot(text: str, fmt: str = "svg") -> bytes:
    """Graphviz ``dot -T<fmt>`` on DOT text."""
    dot = dot_report.dot_path()
    if dot is None:
        raise PprofError("the graph needs Graphviz: the 'dot' program was not found on PATH "
                         "(install the graphviz package)")
    result = subprocess.run([dot, f"-T{fmt}"], input=text.encode(), capture_output=True, timeout=120)
    if result.returncode != 0:
        raise PprofError(f"dot -T{fmt} failed (exit {result.returncode}): "
                         f"{result.stderr.decode(errors='replace').strip()}")
    return result.stdout


def graph_view(prof: Profile, opts: ReportOptions, state: ViewState) -> str:
    """The call graph as inline SVG in a pan/zoom viewport; nodes carry their function name."""
    text, names = graph_dot(prof, opts)
    has_labels = "shape=box3d" in text
    svg = run_dot(text if state.labels else without_label_boxes(text)).decode("utf-8", errors="replace")
    svg = svg[svg.find("<svg"):]
    toggle = ""
    if has_labels:
        toggle = (f'<label class="pp-labels" title="label boxes (thread names, ...) under each node">'
                  f'<input type="checkbox" data-param="labels"{" checked" if state.labels else ""}> label boxes</label>')
    return (f'<div class="pp-graph" data-names="{_esc(json.dumps(names, separators=(",", ":")))}">'
            f'<div class="pp-graph-bar"><button type="button" data-act="fit">fit</button>'
            f'<button type="button" data-act="zoomin">+</button><button type="button" data-act="zoomout">&minus;</button>'
            f'{toggle}<span class="pp-hint">drag to pan, wheel to zoom, click nodes to select</span></div>'
            f'<div class="pp-graph-svg">{svg}</div></div>')


# ---------------------------------------------------------------------- flame graph

def flame_view(prof: Profile, opts: ReportOptions, state: ViewState) -> str:
    frame = make_report(prof, "flame", options=opts)
    return flame_report.render_html(frame, title=flame_report._title(frame), fragment=True)


# ---------------------------------------------------------------------- peek and source

def peek_view(prof: Profile, opts: ReportOptions, state: ViewState) -> str:
    regexp = state.function_regexp() or "."
    text = render_text(prof, "peek", regexp, options=opts)
    return f'<div class="pp-peek"><pre class="pp-text">{_esc(text)}</pre></div>'


def source_view(prof: Profile, opts: ReportOptions, state: ViewState) -> str:
    regexp = state.function_regexp()
    note = ""
    if not regexp:
        top = make_report(prof, "top", options=opts.replace(sort="flat"))
        hot = [f for f, flat in zip(top["function"], top["flat"]) if flat != 0][:SOURCE_DEFAULT_FUNCTIONS]
        if not hot:
            return '<div class="pp-source"><p>No samples.</p></div>'
        regexp = function_regexp(hot)
        note = (f'<p class="pp-note">The {len(hot)} functions with the most flat {_esc(opts.sample_index or "")} '
                f'time; select functions or type a regexp to see others.</p>')
    body = render_text(prof, "weblist", regexp, options=opts)
    return f'<div class="pp-source">{note}{body}</div>'


RENDERERS = {"top": top_view, "graph": graph_view, "flame": flame_view, "peek": peek_view, "source": source_view}


def render_view(prof: Profile, state: ViewState, base_options: ReportOptions | None = None) -> str:
    """The HTML fragment of ``state.view``; bad input raises a PprofError subclass."""
    opts = state.options(base_options)
    return RENDERERS[state.view](prof, opts, state)


def error_fragment(exc: BaseException) -> str:
    text = str(exc) if isinstance(exc, PprofError) else f"{type(exc).__name__}: {exc}"
    return f'<div class="pp-error" role="alert"><b>pprof:</b> {_esc(text)}</div>'


def sample_types(prof: Profile) -> list[str]:
    return [t.type for t in prof.sample_types]


def default_sample(prof: Profile, opts: ReportOptions | None = None) -> str:
    try:
        return prof.sample_types[prof.sample_type_index((opts.sample_index if opts else "") or None)].type
    except PprofError:
        return prof.sample_types[prof.sample_type_index()].type


__all__ = ["RENDERERS", "error_fragment", "function_regexp", "graph_dot", "render_view", "run_dot", "sample_types"]
