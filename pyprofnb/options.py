"""The one table of go tool pprof's options, read by the command, the magic and the widgets.

`OPTIONS` lists every report option with its default and meaning; `ReportOptions` holds a
set of values; `parse_args` reads a go tool pprof command line (``-top -cum -nodecount=10
-sample_index alloc_space base.heap``) into report kind, options and sources.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from .errors import OptionError
from .model.filters import (compile_regex, filter_by_name, filter_by_tag, filter_tags_by_name,
                            prune_from, show_from)
from .model.profile import Profile

GRANULARITIES = ("functions", "filefunctions", "files", "lines", "addresses")


@dataclasses.dataclass(frozen=True)
class Option:
    name: str
    default: Any
    help: str
    kind: type = str  # bool, int, float or str
    choices: tuple[str, ...] = ()


OPTIONS: tuple[Option, ...] = (
    Option("sample_index", "", "Sample value to report (a number or a name; default: the profile's default)"),
    Option("mean", False, "Average sample value over the first value (count)", bool),
    Option("divide_by", 1.0, "Ratio to divide all samples by before printing", float),
    Option("unit", "minimum", "Measurement units to display (minimum, auto, or ns, ms, s, B, kB, MB, ...)"),
    Option("nodecount", -1, "Max number of nodes to show (-1: the report's default)", int),
    Option("nodefraction", 0.005, "Hide nodes below <f>*total", float),
    Option("edgefraction", 0.001, "Hide edges below <f>*total", float),
    Option("trim", True, "Honor nodefraction/edgefraction/nodecount defaults", bool),
    Option("focus", "", "Restricts to samples going through a node matching regexp"),
    Option("ignore", "", "Skips paths going through any nodes matching regexp"),
    Option("hide", "", "Skips nodes matching regexp"),
    Option("show", "", "Only show nodes matching regexp"),
    Option("show_from", "", "Drops functions above the highest matched frame"),
    Option("prune_from", "", "Drops any functions below the matched frame"),
    Option("tagfocus", "", "Restricts to samples with tags in range or matched by regexp"),
    Option("tagignore", "", "Discard samples with tags in range or matched by regexp"),
    Option("tagshow", "", "Only consider tags matching this regexp"),
    Option("taghide", "", "Skip tags matching this regexp"),
    Option("relative_percentages", False, "Show percentages relative to focused subgraph", bool),
    Option("drop_negative", False, "Ignore negative differences", bool),
    Option("normalize", False, "Scales profile based on the base profile", bool),
    Option("compact_labels", False, "Show minimal headers", bool),
    Option("granularity", "functions", "Aggregation level of nodes", str, GRANULARITIES),
    Option("noinlines", False, "Ignore inlines", bool),
    Option("sort", "flat", "Sort order of text reports", str, ("flat", "cum")),
    Option("source_path", "", "Search path for source files"),
    Option("trim_path", "", "Path to trim from source paths before search"),
    Option("call_tree", False, "Create a context-sensitive call tree (graphs only)", bool),
)
OPTION_BY_NAME = {o.name: o for o in OPTIONS}

# Flags that set an option (go tool pprof's shorthand and legacy flags).
FLAG_ALIASES: dict[str, tuple[str, Any]] = {
    **{g: ("granularity", g) for g in GRANULARITIES},
    "flat": ("sort", "flat"),
    "cum": ("sort", "cum"),
    "inuse_space": ("sample_index", "inuse_space"),
    "inuse_objects": ("sample_index", "inuse_objects"),
    "alloc_space": ("sample_index", "alloc_space"),
    "alloc_objects": ("sample_index", "alloc_objects"),
    "total_delay": ("sample_index", "delay"),
    "contentions": ("sample_index", "contentions"),
}

# Report kinds: name -> whether it takes a regexp argument (required or optional).
REPORTS: dict[str, str] = {
    "top": "", "text": "", "tree": "", "traces": "", "tags": "", "raw": "", "comments": "",
    "peek": "required", "list": "required", "weblist": "required",
    "dot": "", "svg": "", "web": "", "proto": "", "folded": "", "flame": "",
    "png": "", "pdf": "", "gif": "", "ps": "", "callgrind": "", "topproto": "",
}
REPORT_ALIASES = {"text": "top"}
# Reports that make a file to look at rather than text for a terminal.
FILE_REPORTS = {"svg": ".svg", "web": ".svg", "flame": ".html", "weblist": ".html"}
# Reports whose output is binary: a terminal gets a file instead (go tool pprof's awayFromTTY).
BINARY_REPORTS = {"proto": ".pb.gz", "topproto": ".pb.gz", "png": ".png", "pdf": ".pdf", "gif": ".gif", "ps": ".ps"}

# Source/fetch flags of the command (not report options).
SOURCE_FLAGS = {"seconds": int, "timeout": int, "base": list, "diff_base": list, "output": str, "o": str,
                "http": str}
SOURCE_SWITCHES = ("all_frames", "no_browser")


@dataclasses.dataclass
class ReportOptions:
    """Values of every option in `OPTIONS`, checked."""

    sample_index: str = ""
    mean: bool = False
    divide_by: float = 1.0
    unit: str = "minimum"
    nodecount: int = -1
    nodefraction: float = 0.005
    edgefraction: float = 0.001
    trim: bool = True
    focus: str = ""
    ignore: str = ""
    hide: str = ""
    show: str = ""
    show_from: str = ""
    prune_from: str = ""
    tagfocus: str = ""
    tagignore: str = ""
    tagshow: str = ""
    taghide: str = ""
    relative_percentages: bool = False
    drop_negative: bool = False
    normalize: bool = False
    compact_labels: bool = False
    granularity: str = "functions"
    noinlines: bool = False
    sort: str = "flat"
    source_path: str = ""
    trim_path: str = ""
    call_tree: bool = False

    @classmethod
    def make(cls, **values) -> "ReportOptions":
        """Options from keyword arguments, accepting pprof's flag spellings too
        (``cum=True``, ``lines=True``, ``alloc_space=True``, ``sample_index=1``)."""
        opts = cls()
        for key, value in values.items():
            opts.set(key, value)
        return opts

    def set(self, key: str, value: Any) -> None:
        key = key.replace("-", "_")
        if key in FLAG_ALIASES:
            if value in (False, None):
                return
            name, fixed = FLAG_ALIASES[key]
            setattr(self, name, fixed)
            return
        if key == "mean_delay":
            self.mean, self.sample_index = True, "delay"
            return
        option = OPTION_BY_NAME.get(key)
        if option is None:
            raise OptionError(f"unknown option {key!r}; known options: {', '.join(sorted(OPTION_BY_NAME))}")
        setattr(self, key, coerce(option, value))

    def replace(self, **values) -> "ReportOptions":
        new = dataclasses.replace(self)
        for key, value in values.items():
            new.set(key, value)
        return new

    def active_filters(self) -> list[str]:
        names = ("focus", "ignore", "hide", "show", "show_from", "tagfocus", "tagignore", "tagshow", "taghide")
        return [f"{n}={getattr(self, n)}" for n in names if getattr(self, n)]


def coerce(option: Option, value: Any) -> Any:
    """Convert a flag value to the option's type, or say what was expected."""
    name = option.name
    if option.kind is bool:
        if isinstance(value, bool):
            return value
        text = str(value).lower()
        if text in ("1", "t", "true", "yes", ""):
            return True
        if text in ("0", "f", "false", "no"):
            return False
        raise OptionError(f"{name} must be true or false, got {value!r}")
    if option.kind is int:
        try:
            return int(value)
        except (TypeError, ValueError):
            raise OptionError(f"{name} must be an integer, got {value!r}") from None
    if option.kind is float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise OptionError(f"{name} must be a number, got {value!r}") from None
        if name == "divide_by" and number == 0:
            raise OptionError("divide_by must not be zero")
        return number
    text = "" if value is None else str(value)
    if option.choices and text not in option.choices:
        raise OptionError(f"{name} must be one of {', '.join(option.choices)}, got {text!r}")
    if name in ("focus", "ignore", "hide", "show", "show_from", "prune_from", "tagshow", "taghide") and text:
        compile_regex(name, text)
    return text


@dataclasses.dataclass
class Command:
    """A parsed go tool pprof command line."""

    report: str | None
    argument: str | None
    options: ReportOptions
    sources: list[str]
    seconds: int | None = None
    timeout: int | None = None
    base: list[str] = dataclasses.field(default_factory=list)
    diff_base: list[str] = dataclasses.field(default_factory=list)
    output: str | None = None
    all_frames: bool = False
    http: str | None = None  # -http=HOST:PORT: serve the web UI (pyprofnb.web)
    no_browser: bool = False


def _split_flag(arg: str) -> tuple[str, str | None]:
    body = arg.lstrip("-")
    if "=" in body:
        name, value = body.split("=", 1)
        return name, value
    return body, None


def parse_args(argv: list[str]) -> Command:
    """Parse go tool pprof's command line: flags (``-x``, ``--x``, ``-x=v``, ``-x v``) in any
    order before the sources; the first bare word after flags starts the sources."""
    options = ReportOptions()
    report: str | None = None
    argument: str | None = None
    cmd = Command(report=None, argument=None, options=options, sources=[])
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg == "--":
            cmd.sources.extend(argv[i:])
            break
        if not arg.startswith("-") or arg == "-":
            cmd.sources.append(arg)
            continue
        name, value = _split_flag(arg)
        key = name.replace("-", "_")

        def take_value() -> str:
            nonlocal i
            if value is not None:
                return value
            if i >= len(argv):
                raise OptionError(f"flag -{name} needs a value")
            i += 1
            return argv[i - 1]

        if key in REPORTS:
            if report is not None:
                raise OptionError(f"only one report at a time: got -{report} and -{name}")
            report = REPORT_ALIASES.get(key, key)
            need = REPORTS[key]
            if value is not None:
                argument = value
            elif need == "required":
                argument = take_value()
            if argument is not None:
                compile_regex(key, argument)
            continue
        if key in FLAG_ALIASES or key == "mean_delay":
            if value is not None and value.lower() in ("false", "0", "f"):
                continue
            options.set(key, True)
            continue
        if key in SOURCE_SWITCHES:
            setattr(cmd, key, value is None or value.lower() not in ("false", "0", "f"))
            continue
        if key in SOURCE_FLAGS:
            raw = take_value()
            if key in ("seconds", "timeout"):
                try:
                    number = int(raw)
                except ValueError:
                    raise OptionError(f"-{key} must be a positive integer, got {raw!r}") from None
                if number <= 0:
                    raise OptionError(f"-{key} must be a positive integer, got {raw!r}")
                setattr(cmd, key, number)
            elif key in ("base", "diff_base"):
                getattr(cmd, key).append(raw)
            elif key == "http":
                cmd.http = raw
            else:
                cmd.output = raw
            continue
        option = OPTION_BY_NAME.get(key)
        if option is None:
            raise OptionError(f"unknown flag -{name}; run 'pyprofnb -help' for the list")
        if option.kind is bool:
            options.set(key, True if value is None else value)
        else:
            options.set(key, take_value())
    if cmd.base and cmd.diff_base:
        raise OptionError("-base and -diff_base cannot both be given")
    cmd.report = report
    cmd.argument = argument
    return cmd


def usage() -> str:
    lines = [
        "usage: pyprofnb [report] [options] SOURCE...     (sources: files or URLs, merged)",
        "       pyprofnb load [hey's flags] URL           (load generator)",
        "",
        "Reports (one at a time):",
        "  -top, -text     Top entries in text form",
        "  -tree           Call graph as text",
        "  -peek=regexp    Callers and callees of matching functions",
        "  -list=regexp    Annotated source of matching functions",
        "  -traces         Every sample, with its stack",
        "  -tags           Label values and their weights",
        "  -raw            The profile's contents",
        "  -dot / -svg     Call graph as Graphviz DOT / SVG (SVG needs dot)",
        "  -web            The SVG call graph, written to a file (its path is printed)",
        "  -weblist=regexp Annotated source as a self-contained HTML file",
        "  -proto          The profile as gzipped profile.proto",
        "  -png, -pdf, -gif, -ps  The call graph as an image or document (Graphviz)",
        "  -callgrind      The call graph in callgrind format (KCachegrind)",
        "  -topproto       The top report as a profile.proto",
        "  -comments       The profile's comments",
        "  -folded         Folded stacks (flamegraph.pl, speedscope)",
        "  -flame          Interactive self-contained HTML flame graph",
        "",
        "Sources:",
        "  -seconds N      Duration for time-based profiles fetched from a URL",
        "  -timeout N      HTTP timeout in seconds",
        "  -base FILE      Subtract FILE (cumulative profiles)",
        "  -diff_base FILE Compare against FILE (percentages relative to it)",
        "  -output FILE    Write the report to FILE",
        "  -all_frames     Keep frames the profile's drop_frames would remove",
        "  -http=HOST:PORT Serve the web UI (views top, graph, flame, peek, source); port 0: any free port",
        "  -no_browser     With -http: do not open a browser",
        "",
        "Options:",
    ]
    for o in OPTIONS:
        default = "" if o.default in ("", False) else f" (default {o.default})"
        lines.append(f"  -{o.name:<22}{o.help}{default}")
    lines.append("  -flat, -cum, -functions, -filefunctions, -files, -lines, -addresses")
    lines.append("  -inuse_space, -inuse_objects, -alloc_space, -alloc_objects  (set -sample_index)")
    return "\n".join(lines)


# ------------------------------------------------- filters from option strings

@dataclass
class FilterResult:
    profile: Profile
    unmatched: list[str]  # option names whose pattern matched nothing (pprof warns about them)


def apply_filters(prof: Profile, opts: ReportOptions) -> FilterResult:
    """Every filter of ``opts`` in go tool pprof's order (applyFocus)."""
    def rx(name):
        value = getattr(opts, name)
        return compile_regex(name, value) if value else None

    unmatched: list[str] = []
    prof, matched = filter_by_name(prof, rx("focus"), rx("ignore"), rx("hide"), rx("show"))
    if opts.show_from:
        prof, hit = show_from(prof, rx("show_from"))
        matched["show_from"] = hit
    prof, tag_matched = filter_by_tag(prof, opts.tagfocus, opts.tagignore)
    matched.update(tag_matched)
    prof = filter_tags_by_name(prof, rx("tagshow"), rx("taghide"))
    if opts.prune_from:
        prof = prune_from(prof, rx("prune_from"))
    unmatched = [name for name, hit in matched.items() if not hit]
    return FilterResult(prof, unmatched)
