"""Rich notebook renderings of reports and profiles: HTML tables with bars for ``top``,
``<pre>`` for the text reports, inline SVG for graphs, the interactive flame graph, and a
summary card for a `Profile`.

Every view is self-contained HTML (inline styles, no external URL, no local web server), so it
works on a remote kernel and in an exported notebook.
"""
from __future__ import annotations

import html

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
    """A report that only has a text (or SVG) form; a ``str`` that displays richly."""

    def __new__(cls, text: str, html_text: str):
        obj = super().__new__(cls, text)
        obj._html = html_text
        return obj

    def __repr__(self) -> str:  # the report, not a quoted string
        return str(self)

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


def svg_html(svg: str) -> str:
    start = svg.find("<svg")
    body = svg[start:] if start >= 0 else svg
    return f'<div class="pyprofnb-graph" style="overflow:auto;max-height:900px;border:1px solid #e4e4e4">{body}</div>'


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
        return TextReport(text, svg_html(text) if kind == "svg" else pre(text))
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
           "register_formatters", "render", "svg_html", "top_html"]
