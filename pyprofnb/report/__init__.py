"""go tool pprof's reports: each a function of (profile, options) giving a DataFrame, with a
text rendering that matches go tool pprof's output.

>>> from pyprofnb.report import make_report, render_text
>>> make_report(prof, "top", sample_index="alloc_space", nodecount=10)
>>> print(render_text(prof, "top", cum=True))
"""
from __future__ import annotations

from ..errors import OptionError
from ..options import ReportOptions
from ..model.profile import Profile
from .core import Report, prepare

# kind -> (DataFrame builder, text renderer), filled in by the report modules below.
_FRAMES = {}
_TEXTS = {}


def register(kind: str, frame=None, text=None) -> None:
    if frame is not None:
        _FRAMES[kind] = frame
    if text is not None:
        _TEXTS[kind] = text


def _options(options) -> ReportOptions:
    if isinstance(options.get("options"), ReportOptions):
        base = options.pop("options")
        return base.replace(**options)
    return ReportOptions.make(**options)


def _prepare(prof: Profile, kind: str, options: dict, argument: str | None = None) -> Report:
    kind = {"text": "top"}.get(kind, kind)
    if kind not in _FRAMES and kind not in _TEXTS:
        known = sorted(set(_FRAMES) | set(_TEXTS))
        raise OptionError(f"unknown report {kind!r}; expected one of: {', '.join(known)}")
    rpt = prepare(prof, kind, _options(dict(options)))
    rpt.argument = argument
    return rpt


def make_report(prof: Profile, kind: str = "top", argument: str | None = None, **options):
    """The report as a DataFrame (``argument`` is the regexp of peek and list)."""
    rpt = _prepare(prof, kind, options, argument)
    if rpt.kind not in _FRAMES:
        raise OptionError(f"report {kind!r} has text output only; use render_text")
    frame = _FRAMES[rpt.kind](rpt)
    return frame[0] if isinstance(frame, tuple) else frame


def render_text(prof: Profile, kind: str = "top", argument: str | None = None, **options) -> str:
    """The report as go tool pprof prints it."""
    rpt = _prepare(prof, kind, options, argument)
    if rpt.kind not in _TEXTS:
        raise OptionError(f"report {kind!r} has no text form")
    return _TEXTS[rpt.kind](rpt)


from . import top as _top  # noqa: E402  (registers itself below)

register("top", frame=_top.top_frame, text=_top.top_text)

__all__ = ["Report", "make_report", "prepare", "register", "render_text"]

from . import tree as _tree  # noqa: E402

register("tree", frame=_tree.tree_frame, text=_tree.tree_text)
register("peek", frame=_tree.tree_frame, text=_tree.tree_text)

from . import traces as _traces  # noqa: E402

register("traces", frame=_traces.traces_frame, text=_traces.traces_text)

from . import tags as _tags  # noqa: E402

register("tags", frame=_tags.tags_frame, text=_tags.tags_text)

from . import raw as _raw  # noqa: E402

register("raw", frame=_raw.raw_frame, text=_raw.raw_text)

from . import source as _source  # noqa: E402

register("list", frame=_source.list_frame, text=_source.list_text)
register("weblist", frame=_source.list_frame, text=_source.weblist_html)

from . import folded as _folded  # noqa: E402

register("folded", frame=_folded.folded_frame, text=_folded.folded_text)

from . import dot as _dot  # noqa: E402

register("dot", frame=_dot.dot_frame, text=_dot.dot_text)
register("svg", text=_dot.svg_text)

from . import flame as _flame  # noqa: E402

register("flame", frame=_flame.flame_frame, text=_flame.flame_text)
