"""What a view of the web UI shows, as a value that round-trips through a URL.

go tool pprof's web UI keeps its state in the URL (``/ui/flamegraph?si=alloc_space&f=json``);
so does ours, with the same parameter names where Go has them:

    view       top | graph | flame | peek | source       (Go: the path /ui/top, /ui/, ...)
    si         sample index (a name)                      (Go: si)
    f i h s    focus, ignore, hide, show regexps          (Go: f, i, h, s)
    sf         show_from regexp                           (Go: sf)
    t          peek/source function regexp (default: f)
    g          granularity          n   node count        sort   flat | cum (top)
    ts         the top table's sort column in the browser (3: cum descending, -5: name ascending)
    labels     1: draw label boxes in the graph (off by default: one box per thread is noise)
    zoom, q    flame graph zoom (box index) and search
    p, base    snapshot shown and snapshot compared with (sources that are URLs can be
               refreshed; every fetch is kept as a numbered snapshot of the session)
    mode       diff_base | base (how ``base`` compares)
"""
from __future__ import annotations

import dataclasses
from urllib.parse import parse_qsl, urlencode

from ..errors import OptionError
from ..options import GRANULARITIES, ReportOptions, compile_regex

VIEWS = ("top", "graph", "flame", "peek", "source")
VIEW_TITLES = {"top": "Top", "graph": "Graph", "flame": "Flame Graph", "peek": "Peek", "source": "Source"}
# URL parameter -> ReportOptions field
_FILTERS = {"f": "focus", "i": "ignore", "h": "hide", "s": "show", "sf": "show_from"}


@dataclasses.dataclass
class ViewState:
    view: str = "graph"
    si: str = ""
    f: str = ""
    i: str = ""
    h: str = ""
    s: str = ""
    sf: str = ""
    t: str = ""
    g: str = "functions"
    n: int = 0
    sort: str = "flat"
    ts: str = ""
    labels: bool = False
    zoom: int = 0
    q: str = ""
    p: int = 0
    base: int = -1
    mode: str = "diff_base"

    # ------------------------------------------------------------ URL

    @classmethod
    def from_query(cls, query: str | dict, *, view: str | None = None) -> "ViewState":
        """Read a query string (or dict); bad values raise OptionError naming the parameter."""
        items = dict(parse_qsl(query, keep_blank_values=True)) if isinstance(query, str) else dict(query)
        state = cls()
        if view:
            items.setdefault("view", view)
        for field in dataclasses.fields(cls):
            if field.name not in items:
                continue
            raw = items[field.name]
            default = field.default
            try:
                if isinstance(default, bool):
                    value = str(raw).lower() in ("1", "true", "on", "yes")
                elif isinstance(default, int):
                    value = int(raw)
                else:
                    value = str(raw)
            except ValueError:
                raise OptionError(f"URL parameter {field.name} must be an integer, got {raw!r}") from None
            setattr(state, field.name, value)
        state.check()
        return state

    def check(self) -> None:
        if self.view not in VIEWS:
            raise OptionError(f"unknown view {self.view!r}; expected one of: {', '.join(VIEWS)}")
        if self.g not in GRANULARITIES:
            raise OptionError(f"granularity must be one of {', '.join(GRANULARITIES)}, got {self.g!r}")
        if self.sort not in ("flat", "cum"):
            raise OptionError(f"sort must be flat or cum, got {self.sort!r}")
        if self.mode not in ("diff_base", "base"):
            raise OptionError(f"mode must be diff_base or base, got {self.mode!r}")
        if self.n < 0:
            raise OptionError(f"node count must not be negative, got {self.n}")
        for key, name in _FILTERS.items():
            if getattr(self, key):
                compile_regex(name, getattr(self, key))
        if self.t:
            compile_regex("function", self.t)

    def query(self, **changes) -> str:
        """The query string of this state with ``changes``, default values left out."""
        state = dataclasses.replace(self, **changes)
        out = {}
        for field in dataclasses.fields(state):
            value = getattr(state, field.name)
            if value != field.default:
                out[field.name] = int(value) if isinstance(value, bool) else value
        return urlencode(out)

    def replace(self, **changes) -> "ViewState":
        return dataclasses.replace(self, **changes)

    # ------------------------------------------------------------ report options

    def options(self, base: ReportOptions | None = None) -> ReportOptions:
        """The go tool pprof options this state asks for, on top of ``base`` (the command line's)."""
        opts = dataclasses.replace(base) if base is not None else ReportOptions()
        if self.si:
            opts.sample_index = self.si
        for key, name in _FILTERS.items():
            if getattr(self, key):
                setattr(opts, name, getattr(self, key))
        opts.granularity = self.g
        if self.n:
            opts.nodecount = self.n
        opts.sort = self.sort
        return opts

    @classmethod
    def from_options(cls, opts: ReportOptions, **extra) -> "ViewState":
        """The state a command line's options start the UI in."""
        state = cls(si=opts.sample_index, f=opts.focus, i=opts.ignore, h=opts.hide, s=opts.show,
                    sf=opts.show_from, g=opts.granularity, n=max(opts.nodecount, 0), sort=opts.sort)
        return state.replace(**extra)

    def function_regexp(self) -> str:
        """The regexp peek and source show: ``t``, else the focus (as Go's UI uses f)."""
        return self.t or self.f


__all__ = ["VIEWS", "VIEW_TITLES", "ViewState"]
