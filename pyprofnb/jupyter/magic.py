"""``%pprof`` and ``%%pprof``: go tool pprof in a notebook.

    %load_ext pyprofnb
    %pprof -top -inuse_space http://127.0.0.1:4000/debug/pprof/heap   # rich table; returns the DataFrame
    top = %pprof -top -cum prof                                       # a variable holding a Profile
    %pprof -flame -diff_base base current                             # differential flame graph
    %pprof http://127.0.0.1:4000/debug/pprof/heap                     # no report flag: the explorer
    %pprof -http http://127.0.0.1:4000/debug/pprof/heap               # the web UI's views, in the output area

    %%pprof -cpu -top -o cell_prof                                    # profile this cell's code
    work()

Flags and their meaning come from `pyprofnb.options` (the command's table); the magic adds
only the cell's profiler choice (``-cpu``, ``-wall``, ``-heap``, ``-allocs``), ``-o NAME``
and ``-web`` (the call graph shown inline, as go tool pprof's ``-web`` opens it in a browser).
Bad input shows one readable message in the cell; the kernel stays usable.
"""
from __future__ import annotations

import itertools
import linecache
import re
import shlex

from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.display import display

from ..errors import OptionError, PprofError, ProfilingError
from ..options import parse_args
from ..model.profile import Profile
from ..sources import load_sources
from . import display as rich

CELL_MODES = {"cpu": None, "wall": None, "heap": "inuse_space", "allocs": "alloc_space"}
_cell_numbers = itertools.count(1)


def _split(line: str) -> list[str]:
    try:
        return shlex.split(line)
    except ValueError as exc:
        raise OptionError(f"cannot read the flags {line!r}: {exc}") from None


def _translate(argv: list[str]) -> list[str]:
    """go tool pprof's viewer flags, as a notebook shows them: ``-web`` is the inline call
    graph; ``-http`` (with or without an address) is the web UI in the output area, served by
    no port, so it works on remote kernels too."""
    out = []
    for a in argv:
        if a in ("-web", "--web"):
            out.append("-svg")
        elif a in ("-http", "--http") or a.startswith(("-http=", "--http=")):
            out.append("-http=")
        else:
            out.append(a)
    return out


HELP = """go tool pprof in the notebook: reports and the explorer for a profile (%pprof), or a
profile of the cell's own code (%%pprof).

%pprof [report] [options] SOURCE...
-----------------------------------
SOURCE is a URL of a /debug/pprof endpoint, a profile file (gzipped or raw profile.proto,
the legacy heap text; Go's profiles too), or the name of a variable holding a Profile.
Several sources are merged. Python values go in braces: %pprof -top {heap_url}.

    %pprof -top -inuse_space http://127.0.0.1:4000/debug/pprof/heap
    %pprof -top -cum -nodecount=20 -seconds=5 http://127.0.0.1:4000/debug/pprof/profile
    top = %pprof -top -alloc_objects heap           # assigned: the rows as a DataFrame, nothing shown
    %pprof -top -focus=send_json -hide=json heap    # go tool pprof's filters
    %pprof -list=send_json cpu                      # annotated source (weblist)
    %pprof -peek=send_json cpu                      # callers and callees
    %pprof -web cpu                                 # the call graph, inline SVG (needs Graphviz)
    %pprof -flame -alloc_space heap                 # flame graph: click to zoom, hover, search
    %pprof -top -base base.heap current.heap        # what grew since base.heap
    %pprof -flame -diff_base base.heap current.heap # differential flame graph: red grew, blue shrank
    %pprof -flame -output heap.html heap            # also write the report to a file
    %pprof http://127.0.0.1:4000/debug/pprof/heap   # no report flag: the explorer

A report flag renders that report and returns it: a DataFrame for -top, -peek, -list,
-traces, -tags and -flame (shown as a table with bars, or the interactive flame graph), text
for -tree, -raw, -dot, -folded, an SVG for -web/-svg. Without one, the explorer opens:
sample type, view (top, flame graph, graph, peek, list, traces), node count, focus/ignore/
hide, granularity and a base profile; changing a control re-renders from the loaded profile,
only "refresh" fetches again.

%%pprof [-cpu | -wall | -heap | -allocs] [report] [options] [-o NAME]
---------------------------------------------------------------------
Runs the cell under a profiler and shows a report of it (-top, 20 rows, unless a report
flag says otherwise). Only the cell's own frames are kept.

    %%pprof -cpu -top -o cell_cpu
    def fib(n):
        return n if n < 2 else fib(n - 1) + fib(n - 2)
    fib(32)                                  # 0.3-1 s of CPU: tens of samples

    %%pprof -heap -top
    table = [str(i) * 10 for i in range(200_000)]   # live memory the cell leaves behind

  -cpu     CPU time of the cell's thread, one sample per 10 ms of CPU: give it well over
           10 ms of work (0.5 s or more) or the profile is empty (the default)
  -wall    wall-clock time, sampled whatever the thread is doing (sleeping and waiting too)
  -heap    memory allocated by the cell and still live at its end (inuse_space)
  -allocs  everything the cell allocated, freed or not (alloc_space)
  -o NAME  keep the Profile in the variable NAME

%pprof -help prints this text. The flags, as go tool pprof has them:

"""


def help_text() -> str:
    """What %pprof? and %pprof -help show: the examples above and every flag of the table."""
    from ..options import usage

    return HELP + usage().replace("pyprofnb [", "%pprof [", 1)


@magics_class
class PprofMagics(Magics):
    @line_cell_magic
    def pprof(self, line: str, cell: str | None = None):
        # The docstring (what %pprof? shows) is HELP below, with every flag of the table.
        try:
            if cell is None:
                return self._line(line)
            return self._cell(line, cell)
        except (PprofError, OSError) as exc:
            display(rich.error_message(exc))
            return None

    # ------------------------------------------------------------------ %pprof

    def _resolve(self, names: list[str]) -> list:
        """Names of notebook variables holding Profiles become those Profiles."""
        ns = self.shell.user_ns
        return [ns[n] if n.isidentifier() and isinstance(ns.get(n), Profile) else n for n in names]

    def _line(self, line: str):
        argv = _translate(_split(line))
        if not argv or argv[0] in ("-h", "-help", "--help"):
            display(rich.Message(help_text(), error=False))
            return None
        cmd = parse_args(argv)
        if not cmd.sources:
            raise OptionError("no profile source: give a URL, a file, or the name of a variable holding a Profile")
        sources = self._resolve(cmd.sources)
        base, diff_base = self._resolve(cmd.base), self._resolve(cmd.diff_base)
        prof = load_sources(sources, seconds=cmd.seconds, timeout=cmd.timeout, base=base, diff_base=diff_base,
                            normalize=cmd.options.normalize)
        if cmd.http is not None:
            if cmd.report is not None:
                raise OptionError(f"-http shows every view; drop -{cmd.report}")
            label = " ".join(s for s in cmd.sources if isinstance(s, str))
            return rich.WebView(prof, cmd.options, source=label)
        if cmd.report is None:
            from .explorer import Explorer

            display(Explorer(prof, options=cmd.options, sources=sources, seconds=cmd.seconds, timeout=cmd.timeout,
                             base=base, diff_base=diff_base, shell=self.shell))
            return None
        result = rich.render(prof, cmd.report, cmd.argument, cmd.options)
        if cmd.output:
            self._save(result, cmd.output, prof, cmd.report, cmd)
        return result

    def _save(self, result, path: str, prof: Profile, report: str, cmd) -> None:
        if report == "flame":
            from ..report.flame import flame_html

            text = flame_html(prof, options=cmd.options)
        else:
            text = str(result) if isinstance(result, str) else getattr(result, "_pprof_html", "")
        with open(path, "w") as fh:
            fh.write(text)
        display(rich.Message(f"report written to {path}", error=False))

    # ------------------------------------------------------------------ %%pprof

    def _cell(self, line: str, cell: str):
        argv = _translate(_split(line))
        mode, keep_as = "cpu", None
        rest = []
        it = iter(argv)
        for arg in it:
            flag = arg.lstrip("-")
            if arg.startswith("-") and flag in CELL_MODES:
                mode = flag
            elif arg.startswith("-") and flag.split("=", 1)[0] == "o":
                keep_as = flag.split("=", 1)[1] if "=" in flag else next(it, None)
                if not keep_as or not keep_as.isidentifier():
                    raise OptionError(f"-o needs a variable name, got {keep_as!r}")
            else:
                rest.append(arg)
        cmd = parse_args(rest)
        if cmd.sources:
            raise OptionError(f"%%pprof profiles the cell itself and takes no sources, got {' '.join(cmd.sources)}")
        prof = self._profile_cell(mode, cell)
        if keep_as:
            self.shell.user_ns[keep_as] = prof
        opts = cmd.options
        if CELL_MODES[mode] and not opts.sample_index:
            opts = opts.replace(sample_index=CELL_MODES[mode])
        report = cmd.report or "top"
        if report == "top" and opts.nodecount == -1 and cmd.report is None:
            opts = opts.replace(nodecount=20)
        if prof.n_samples == 0:
            display(rich.Message(f"the {mode} profile of this cell has no samples "
                                 f"({'it used less CPU than one 10 ms tick' if mode == 'cpu' else 'nothing was recorded'})",
                                 error=False))
            return None
        return rich.render(prof, report, cmd.argument, opts)

    def _profile_cell(self, mode: str, cell: str) -> Profile:
        number = next(_cell_numbers)
        filename = f"<pprof-cell-{number}>"
        source = self.shell.transform_cell(cell)
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        code = compile(source, filename, "exec")
        profiler = _profiler(mode)
        failed = False
        with profiler:
            try:
                exec(code, self.shell.user_ns)
            except Exception:
                failed = True
                self.shell.showtraceback()
        prof = profiler.profile
        from ..model.filters import show_from

        # Keep only the cell's own frames: drop the kernel's machinery above them and the
        # samples of other threads (the kernel's heartbeat, the sampler itself).
        prof, _ = show_from(prof, re.compile("^" + re.escape(filename) + "$"))
        if failed:
            display(rich.Message("the cell raised an exception; the profile covers the code that ran", error=False))
        return prof


def _profiler(mode: str):
    if mode == "wall":
        from ..collect.wall import WallProfiler

        return WallProfiler()
    if mode == "cpu":
        try:
            from ..collect import cpu
        except ImportError as exc:
            raise ProfilingError(f"the CPU profiler is not available: {exc}") from None
        if not cpu.available():
            raise ProfilingError(f"the CPU profiler is not available: {cpu.UNAVAILABLE_REASON}")
        return cpu.CPUProfiler()
    try:
        from ..collect import heap
    except ImportError as exc:
        raise ProfilingError(f"the heap profiler is not available: {exc}") from None
    if not heap.available():
        raise ProfilingError("the heap profiler is not available on this Python")
    return heap.HeapProfiler()


PprofMagics.pprof.__doc__ = help_text()


def load_ipython_extension(ipython) -> None:
    """``%load_ext pyprofnb``: the magics and the rich display of Profiles."""
    ipython.register_magics(PprofMagics)
    rich.register_formatters(ipython)


__all__ = ["PprofMagics", "load_ipython_extension"]
