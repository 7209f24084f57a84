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

# The module of each report kind, imported when the kind is first asked for: a command
# that prints -top does not pay for pandas and the graph renderers.
_MODULES = {
    "top": "top", "tree": "tree", "peek": "tree", "traces": "traces", "tags": "tags", "raw": "raw",
    "list": "source", "weblist": "source", "folded": "folded", "dot": "dot", "svg": "dot", "flame": "flame",
}
_LOADED: set[str] = set()


def _load(kind: str | None = None) -> None:
    """Import the module of ``kind`` (or of every kind), which registers its functions."""
    import importlib

    for name in {_MODULES[kind]} if kind in _MODULES else set(_MODULES.values()) if kind is None else set():
        if name not in _LOADED:
            _LOADED.add(name)
            importlib.import_module(f"{__name__}.{name}")


class _Registry(dict):
    """kind -> function, filled in by the report modules as they are imported (lazily)."""

    def __contains__(self, kind):
        if not dict.__contains__(self, kind):
            _load(kind)
        return dict.__contains__(self, kind)

    def __getitem__(self, kind):
        if not dict.__contains__(self, kind):
            _load(kind)
        return dict.__getitem__(self, kind)

    def get(self, kind, default=None):
        return self[kind] if kind in self else default

    def __iter__(self):
        _load()
        return dict.__iter__(self)

    def keys(self):
        _load()
        return dict.keys(self)

    def items(self):
        _load()
        return dict.items(self)


# kind -> (DataFrame builder, text renderer)
_FRAMES = _Registry()
_TEXTS = _Registry()


def register(kind: str, frame=None, text=None) -> None:
    if frame is not None:
        dict.__setitem__(_FRAMES, kind, frame)
    if text is not None:
        dict.__setitem__(_TEXTS, kind, text)


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


__all__ = ["Report", "make_report", "prepare", "register", "render_text"]
