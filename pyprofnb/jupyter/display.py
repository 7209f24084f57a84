"""Rich notebook renderings of reports and profiles: HTML tables with bars for ``top``,
``<pre>`` for the text reports, inline SVG for graphs, the interactive flame graph, and a
summary card for a `Profile`.

Every view is self-contained HTML (inline styles, no external URL, no local web server), so it
works on a remote kernel and in an exported notebook.
"""
from __future__ import annotations

import base64
import html
import re

import pandas as pd

from ..errors import OptionError, PprofError
from ..options import ReportOptions
from ..model.profile import Profile
from ..report import _FRAMES, _TEXTS, make_report, render_text
from ..report import flame as _flame  # registers the "flame" report kind
from .. import units

# Views the explorer and the magic know, and the report kind behind each.
VIEW_KINDS = {"web": "svg", "graph": "svg", "flame graph": "flame", "weblist": "list"}

_FONT = "font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px"
_PRE = f"{_FONT};white-space:pre;overflow-x:auto;margin:0;padding:6px 8px;background:#fafafa;border:1px solid #e4e4e4"


class ReportFrame(pd.DataFrame):
    """A report's DataFrame that displays as its rich rendering in a notebook.

    Anything derived from it (``frame.head()``, ``frame[frame.flat > 0]``) is a plain
    DataFrame again, shown the usual pandas way.
    """

    _metadata = ["_pprof_html", "_pprof_text"]

    @property
    def _constructor(self):
        return pd.DataFrame

    def _repr_html_(self):
        html_text = getattr(self, "_pprof_html", None)
        return html_text if html_text is not None else super()._repr_html_()


class TextReport(str):
    """A report that only has a text (or SVG) form; a ``str`` that displays richly.

    ``plain`` is what a viewer without HTML shows (an SVG's source is no use as text)."""

    def __new__(cls, text: str, html_text: str, plain: str | None = None):
        obj = super().__new__(cls, text)
        obj._html = html_text
        obj._plain = plain
        return obj

    def __repr__(self) -> str:  # the report, not a quoted string
        return self._plain if self._plain is not None else str(self)

    def _repr_html_(self) -> str:
        return self._html


class Message:
    """One readable message in a cell (an error or a notice), in place of a traceback."""

    def __init__(self, text: str, *, error: bool = True):
        self.text = text
        self.error = error

    def __repr__(self) -> str:
        return ("pprof: " if self.error else "") + self.text

    def _repr_html_(self) -> str:
        colour, bg = ("#a61b1b", "#fdf0f0") if self.error else ("#333", "#f4f6fa")
        label = "<b>pprof:</b> " if self.error else ""
        return (f'<div style="{_FONT};white-space:pre-wrap;color:{colour};background:{bg};'
                f'border-left:3px solid {colour};padding:6px 10px">{label}{html.escape(self.text)}</div>')


# ---------------------------------------------------------------------- pieces

def pre(text: str) -> str:
    return f'<pre style="{_PRE}">{html.escape(text)}</pre>'


def _value_formatter(frame: pd.DataFrame):
    unit = frame.attrs.get("unit", "count")
    out_unit = frame.attrs.get("output_unit") or "auto"
    return lambda v: units.scaled_label(int(v), unit, out_unit)


def _bar(pct: float, negative: bool) -> str:
    colour = "#7fb77e" if negative else "#e8a15a"
    width = min(max(abs(float(pct)), 0.0), 100.0)
    return (f"background:linear-gradient(to right,{colour} {width:.2f}%,transparent {width:.2f}%);"
            "background-repeat:no-repeat")


def top_html(frame: pd.DataFrame, *, max_rows: int = 200, header: bool = True) -> str:
    """The ``top`` report as an HTML table; flat% and cum% cells carry bars."""
    fmt = _value_formatter(frame)
    header = (frame.attrs.get("header") or []) if header else []
    rows = []
    cell = "padding:1px 8px;text-align:right;white-space:nowrap"
    for name, r in frame.head(max_rows).iterrows():
        inline = f' <span style="color:#888">{html.escape(r["inline"])}</span>' if r.get("inline") else ""
        rows.append(
            "<tr>"
            f'<td style="{cell}">{fmt(r["flat"])}</td>'
            f'<td style="{cell};{_bar(r["flat%"], r["flat"] < 0)}">{r["flat%"]:.2f}%</td>'
            f'<td style="{cell};color:#777">{r["sum%"]:.2f}%</td>'
            f'<td style="{cell}">{fmt(r["cum"])}</td>'
            f'<td style="{cell};{_bar(r["cum%"], r["cum"] < 0)}">{r["cum%"]:.2f}%</td>'
            f'<td style="padding:1px 8px;text-align:left;white-space:nowrap">{html.escape(str(name))}{inline}</td>'
            "</tr>"
        )
    more = len(frame) - max_rows
    if more > 0:
        rows.append(f'<tr><td colspan="6" style="padding:2px 8px;color:#777;text-align:left">… {more} more rows '
                    "(the returned DataFrame has them all)</td></tr>")
    th = "padding:2px 8px;text-align:right;border-bottom:1px solid #ccc"
    head_cells = "".join(f'<th style="{th}">{c}</th>' for c in ("flat", "flat%", "sum%", "cum", "cum%"))
    head_cells += f'<th style="{th};text-align:left">name</th>'
    caption = (f'<div style="{_FONT};white-space:pre;color:#555;margin-bottom:4px">{html.escape(chr(10).join(header))}</div>'
               if header else "")
    return (f'<div class="pyprofnb-top">{caption}<table style="{_FONT};border-collapse:collapse">'
            f"<thead><tr>{head_cells}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>")


def svg_html(svg: str, *, height: int = 640) -> str:
    """A call graph for a notebook: pannable and zoomable (wheel, drag, fit) at a legible
    size in an iframe, and the same SVG as a scrollable image where scripts and iframes are
    not run (untrusted notebooks, GitHub, nbviewer's sanitizer)."""
    from ..web.svgpan import pannable_svg_page

    return framed(pannable_svg_page(svg), static_img_html(svg), height=height, kind="graph")


def static_img_html(svg: str, *, max_height: int = 640) -> str:
    start = svg.find("<svg")
    body = svg[start:] if start >= 0 else svg
    uri = "data:image/svg+xml;base64," + base64.b64encode(body.encode("utf-8")).decode("ascii")
    # Graphviz sizes in points; one pixel per point (3/4 of print size) keeps 8-point labels
    # readable while more of the graph fits.
    size = re.search(r'<svg[^>]*?\swidth="([\d.]+)pt"', body)
    width = f' width="{round(float(size.group(1)))}"' if size else ""
    return (f'<div style="overflow:auto;max-height:{max_height}px;border:1px solid #e4e4e4">'
            f'<img alt="call graph" src="{uri}"{width} style="max-width:none"></div>')


def framed(page: str, fallback: str, *, height: int = 640, kind: str = "web") -> str:
    """``page`` (a whole HTML document) in an ``<iframe srcdoc>``, followed by ``fallback``,
    which the iframe hides once it has loaded. A trusted output shows the page; a viewer that
    strips iframes and event handlers (untrusted JupyterLab, GitHub) shows the fallback."""
    # The wrapper takes its height only once the iframe has loaded: where the iframe is
    # stripped, nothing is left but the fallback.
    loaded = (f"var w=this.parentNode;w.style.height='{height}px';w.style.border='1px solid #d6dbe3';"
              "this.style.height='100%';var n=w.nextElementSibling;if(n)n.style.display='none'")
    return (f'<div class="pyprofnb-{kind}">'
            '<div style="resize:vertical;overflow:hidden;min-height:0">'
            f'<iframe srcdoc="{html.escape(page, quote=True)}" title="pyprofnb {kind}" '
            f'style="width:100%;height:{height}px;border:0;display:block" onload="{html.escape(loaded, quote=True)}">'
            '</iframe></div>'
            f'<div class="pyprofnb-static">{fallback}</div></div>')


def static_view(prof: Profile, options: ReportOptions, *, rows: int = 25) -> tuple[str, str]:
    """(text, HTML) of a profile for viewers that run nothing: the top rows, and the call
    graph as an image (no label boxes, as the web UI draws it)."""
    from ..web.views import graph_dot, run_dot, without_label_boxes

    try:
        text = render_text(prof, "top", options=options.replace(nodecount=rows))
    except PprofError as exc:
        return f"pprof: {exc}", Message(str(exc))._repr_html_()
    try:
        dot, _ = graph_dot(prof, options)
        svg = run_dot(without_label_boxes(dot)).decode("utf-8", errors="replace")
        graph = static_img_html(svg)
    except PprofError:
        graph = ""
    return text, pre(text) + graph


class WebView:
    """The web UI's views of a profile in the output area: every view of every sample type in
    one self-contained page (an iframe ``srcdoc``; no server, no port), and a static top
    table and call graph for viewers that run no JavaScript.

    >>> WebView(prof, ReportOptions(), view="flame")       # what %pprof -http shows
    """

    def __init__(self, prof: Profile, options: ReportOptions | None = None, *, view: str = "graph",
                 source: str = "", height: int = 680):
        from ..web.embed import embedded_panes
        from ..web.page import page, subtitle
        from ..web.server import resolve_sample
        from ..web.state import ViewState
        from ..web.views import sample_types

        self.profile = prof
        self.options = options or ReportOptions()
        state = resolve_sample(prof, ViewState.from_options(self.options, view=view), self.options)
        self.state = state
        panes = embedded_panes(prof, state, self.options)
        self.page = page(panes, state, mode="embed", sample_types=sample_types(prof), title="pyprofnb",
                         subtitle=subtitle(prof, state), source=source)
        try:
            self.text = render_text(prof, "top", options=self.options.replace(nodecount=25, sample_index=state.si))
        except PprofError as exc:
            self.text = f"pprof: {exc}"
        graph = panes.get(("graph", state.si), "")
        start, end = graph.find("<svg"), graph.rfind("</svg>")
        svg = graph[start:end + 6] if start >= 0 and end > start else ""
        self.static_html = pre(self.text) + (static_img_html(svg) if svg else "")
        self.height = height

    def _repr_html_(self) -> str:
        return framed(self.page, self.static_html, height=self.height)

    def _repr_mimebundle_(self, include=None, exclude=None):
        return {"text/html": self._repr_html_(), "text/plain": self.text}

    def save(self, path: str) -> str:
        """Write the page as a standalone HTML file (it opens in any browser, offline)."""
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(self.page)
        return path

    def __repr__(self) -> str:
        return self.text


# ---------------------------------------------------------------------- reports

def report_kind(view: str) -> str:
    return VIEW_KINDS.get(view, view)


def render(prof: Profile, kind: str, argument: str | None = None, options: ReportOptions | None = None):
    """The rich result of a report: a `ReportFrame` (kinds with a DataFrame) or a
    `TextReport`. Raises PprofError subclasses on bad input."""
    kind = report_kind(kind)
    opts = options or ReportOptions()
    if kind == "proto":
        raise OptionError("-proto writes a file; use prof.save(path) or -output in the command")
    if kind == "flame":
        frame = make_report(prof, "flame", argument, options=opts)
        return _wrap(frame, _flame.render_html(frame, title=_flame._title(frame), fragment=True))
    if kind in ("svg", "dot") or (kind not in _FRAMES and kind in _TEXTS):
        text = render_text(prof, kind, argument, options=opts)
        if kind == "svg":
            return TextReport(text, svg_html(text), plain=f"<call graph: SVG of {len(text)} characters; str() of this value is the SVG>")
        return TextReport(text, pre(text))
    frame = make_report(prof, kind, argument, options=opts)
    if kind == "top":
        return _wrap(frame, top_html(frame))
    text = render_text(prof, kind, argument, options=opts) if kind in _TEXTS else None
    return _wrap(frame, pre(text) if text is not None else frame.to_html())


def _wrap(frame: pd.DataFrame, html_text: str) -> ReportFrame:
    out = ReportFrame(frame)
    out.attrs.update(frame.attrs)
    out._pprof_html = html_text
    return out


def error_message(exc: BaseException) -> Message:
    """What a cell shows for bad input: the error's own words, no traceback."""
    if isinstance(exc, PprofError):
        return Message(str(exc))
    return Message(f"{type(exc).__name__}: {exc}")


# ---------------------------------------------------------------------- Profile

def profile_html(prof: Profile, *, top: int = 8) -> str:
    """A summary card: sample types with totals, period, time, size, and the top functions."""
    rows = []
    for t, total in zip(prof.sample_types, prof.values.sum(axis=0) if prof.n_samples else [0] * len(prof.sample_types)):
        default = " (default)" if prof.sample_type_index() == prof.sample_types.index(t) else ""
        rows.append(f"<tr><td>{html.escape(t.type)}{default}</td><td>{html.escape(t.unit)}</td>"
                    f'<td style="text-align:right">{html.escape(units.scaled_label(int(total), t.unit, "auto"))}</td></tr>')
    facts = [f"{prof.n_samples} samples, {len(prof.loc_id)} locations, {len(prof.func_id)} functions"]
    if prof.period_type is not None and prof.period:
        facts.append(f"period {units.scaled_label(prof.period, prof.period_type.unit, 'auto')} of {prof.period_type.type}")
    if prof.time_nanos:
        from ..report.core import format_time

        facts.append("taken " + format_time(prof.time_nanos))
    if prof.duration_nanos:
        facts.append("over " + units.duration_label(prof.duration_nanos))
    facts.extend(c for c in prof.comments if not c.startswith("#"))
    table = ('<table style="border-collapse:collapse;margin:4px 0"><thead><tr><th style="text-align:left">sample type</th>'
             '<th style="text-align:left">unit</th><th style="text-align:right">total</th></tr></thead>'
             f"<tbody>{''.join(rows)}</tbody></table>")
    top_part = ""
    if top and prof.n_samples:
        try:
            frame = make_report(prof, "top", nodecount=top)
            top_part = '<div style="margin-top:6px;color:#555">top by flat:</div>' + top_html(frame, header=False)
        except PprofError:
            top_part = ""
    return (f'<div class="pyprofnb-profile" style="{_FONT}"><b>Profile</b> · {html.escape(" · ".join(facts))}'
            f"{table}{top_part}</div>")


def register_formatters(ip) -> None:
    """Show Profiles as summary cards in this IPython shell."""
    ip.display_formatter.formatters["text/html"].for_type(Profile, lambda p: profile_html(p))


__all__ = ["Message", "ReportFrame", "TextReport", "VIEW_KINDS", "error_message", "pre", "profile_html",
           "register_formatters", "render", "static_view", "svg_html", "top_html", "WebView", "framed"]
