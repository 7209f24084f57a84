"""The interactive ``(pprof)`` shell of ``pyprofnb FILE``, as go tool pprof's: commands and
their arguments as Go reads them, options set with ``name=value``, ``help`` for each command
and option, readline editing and history on a terminal, and commands read from a pipe.

    $ pyprofnb cpu.pb.gz
    (pprof) top 5 -cum send
    (pprof) focus=json
    (pprof) web                      # the call graph in the browser (its path is printed)
    (pprof) png > graph.png          # Graphviz renders PNG and PDF

Reports come from `pyprofnb.report` like every other rendering; files are written where
Go writes them (``profile001.svg`` in the current directory, or ``output=FILE``).
"""
from __future__ import annotations

import dataclasses
import os
import re
import sys
import tempfile

from .errors import PprofError
from .options import FLAG_ALIASES, GRANULARITIES, OPTION_BY_NAME, OPTIONS, ReportOptions

HISTORY_FILE = os.path.join(os.path.expanduser("~"), ".pyprofnb_history")
HISTORY_LENGTH = 1000

# name -> (help line, usage text). Usage follows go tool pprof's own help.
_REPORT_USAGE = "{name} [n] [focus_regex]* [-ignore_regex]* [-cum] >f"
_PARAM_USAGE = "{name}<func_regex|address> [-focus_regex]* [-ignore_regex]*"
COMMANDS: dict[str, tuple[str, str]] = {
    "callgrind": ("Outputs a graph in callgrind format", _REPORT_USAGE),
    "comments": ("Output all profile comments", "comments"),
    "disasm": ("Output assembly listings annotated with samples (Python has none: see list)", _PARAM_USAGE),
    "dot": ("Outputs a graph in DOT format", _REPORT_USAGE),
    "flame": ("Visualize the flame graph through web browser", _REPORT_USAGE),
    "folded": ("Outputs folded stacks (flamegraph.pl, speedscope)", _REPORT_USAGE),
    "gif": ("Outputs a graph image in GIF format", _REPORT_USAGE),
    "list": ("Output annotated source for functions matching regexp", _PARAM_USAGE),
    "pdf": ("Outputs a graph in PDF format", _REPORT_USAGE),
    "peek": ("Output callers/callees of functions matching regexp", _PARAM_USAGE),
    "png": ("Outputs a graph image in PNG format", _REPORT_USAGE),
    "proto": ("Outputs the profile in compressed protobuf format", "proto >f"),
    "ps": ("Outputs a graph in PS format", _REPORT_USAGE),
    "raw": ("Outputs a text representation of the raw profile", "raw"),
    "svg": ("Outputs a graph in SVG format", _REPORT_USAGE),
    "tags": ("Outputs all tags in the profile", "tags [tag_regex]* [-ignore_regex]* >f"),
    "text": ("Outputs top entries in text form", _REPORT_USAGE),
    "top": ("Outputs top entries in text form", _REPORT_USAGE),
    "topproto": ("Outputs top entries in compressed protobuf format", _REPORT_USAGE),
    "traces": ("Outputs all profile samples in text form", "traces"),
    "tree": ("Outputs a text rendering of call graph", _REPORT_USAGE),
    "web": ("Visualize graph through web browser", "web [n] [focus_regex]* [-ignore_regex]*"),
    "weblist": ("Display annotated source in a web browser", _PARAM_USAGE),
}
_WITH_PARAM = {"list", "peek", "weblist", "disasm"}
_COUNTED = {"top", "text", "tree", "traces", "peek", "dot", "svg", "png", "pdf", "gif", "ps", "web", "callgrind", "topproto"}
# Commands whose output is a file (go tool pprof's awayFromTTY): (extension, binary).
_FILES = {"svg": ("svg", False), "png": ("png", True), "pdf": ("pdf", True), "gif": ("gif", True),
          "ps": ("ps", True), "callgrind": ("callgraph.out", False), "topproto": ("pb.gz", True),
          "proto": ("pb.gz", True)}
# Commands that open a browser: (extension).
_BROWSER = {"web": "svg", "weblist": "html", "flame": "html"}
_OPTION_GROUPS = {
    "granularity": {g: f"Aggregate at the {g.rstrip('s') if g != 'addresses' else 'address'} level." for g in GRANULARITIES},
    "sort": {"cum": "Sort entries based on cumulative weight", "flat": "Sort entries based on own weight"},
}
_OPTION_HELP = {**{o.name: o.help for o in OPTIONS}, "output": "Output filename for file-based outputs"}
_CLEARED_BY_COLON = ("focus", "ignore", "hide", "tagfocus", "tagignore")


@dataclasses.dataclass
class ParsedCommand:
    name: str
    options: ReportOptions
    argument: str | None
    output: str | None


class Shell:
    """One interactive session over a profile. ``execute(line)`` runs one command and
    returns False when the user asked to quit."""

    def __init__(self, prof, options: ReportOptions | None = None, *, out=None, err=None,
                 open_browser=None):
        self.profile = prof
        self.options = dataclasses.replace(options or ReportOptions())
        self.options.compact_labels = True  # as go tool pprof's interactive mode starts
        self.output = ""
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self._open_browser = open_browser

    # ------------------------------------------------------------------ loop

    def run(self, stdin=None) -> int:
        stdin = stdin or sys.stdin
        tty = stdin.isatty() and stdin is sys.stdin
        if tty:
            self._readline()
        # As go tool pprof: the header and every error on stderr, reports and prompts on stdout.
        self._header()
        print('Entering interactive mode (type "help" for commands, "o" for options)', file=self.err)
        while True:
            try:
                if tty:
                    line = input("(pprof) ")
                else:
                    self.out.write("(pprof) ")
                    self.out.flush()
                    line = stdin.readline()
                    if not line:
                        raise EOFError
            except EOFError:
                print(file=self.out)
                return 0
            except KeyboardInterrupt:
                print(file=self.out)
                continue
            try:
                if not self.execute(line):
                    return 0
            except PprofError as exc:
                print(exc, file=self.err)
            except BrokenPipeError:
                return 0
            finally:
                self.out.flush()

    def _header(self) -> None:
        from .report import prepare

        try:
            rpt = prepare(self.profile, "top", self.options.replace(compact_labels=False))
            for line in rpt.profile_labels():
                print(line, file=self.err)
        except PprofError as exc:
            print(exc, file=self.err)

    def _readline(self) -> None:
        try:
            import readline
        except ImportError:  # Windows without pyreadline: plain input() still works
            return
        try:
            readline.read_history_file(HISTORY_FILE)
        except OSError:
            pass
        readline.set_history_length(HISTORY_LENGTH)
        words = sorted(set(COMMANDS) | set(_OPTION_HELP) | {"help", "quit", "exit", "options"}
                       | set(FLAG_ALIASES) - {"total_delay", "contentions"})

        def complete(text, state):
            hits = [w for w in words if w.startswith(text)]
            return hits[state] if state < len(hits) else None

        readline.set_completer(complete)
        readline.set_completer_delims(" =")
        readline.parse_and_bind("tab: complete")
        import atexit

        def save():
            try:
                readline.write_history_file(HISTORY_FILE)
            except OSError:
                pass

        atexit.register(save)

    # ------------------------------------------------------------------ one line

    def execute(self, line: str) -> bool:
        line = line.strip()
        if not line or line.startswith("#"):
            return True
        tokens = line.split()
        head = tokens[0]
        if head in ("q", "quit", "exit"):
            return False
        if head == "help":
            self.help(tokens[1] if len(tokens) > 1 else "")
            return True
        if head in ("o", "options"):
            self.print_options()
            return True
        if head == ":":
            for name in _CLEARED_BY_COLON:
                setattr(self.options, name, "")
            return True
        if "=" in head or (len(tokens) > 1 and tokens[1].startswith("=")):
            key, _, value = line.partition("=")
            self.set_option(key.strip(), value.strip())
            return True
        if head in _OPTION_HELP:
            option = OPTION_BY_NAME.get(head)
            if len(tokens) > 1:  # as Go: options take name=value
                raise PprofError(f"did you mean: {head}={' '.join(tokens[1:])}")
            if option is not None and option.kind is bool:
                self.set_option(head, "true")
            else:
                print(f"{head} = {self._option_value(head)}", file=self.err)
            return True
        if head in FLAG_ALIASES:
            raise PprofError(f'unknown config field "{head}"')
        cmd = self.parse(tokens)
        self.report(cmd)
        return True

    def set_option(self, key: str, value: str) -> None:
        if key == "output":
            self.output = value
            return
        if key in ("cum", "flat") or key in GRANULARITIES:  # cum=true, lines=true
            if value.lower() in ("", "1", "t", "true"):
                self.options.set(key, True)
            return
        if key not in OPTION_BY_NAME:
            raise PprofError(f"unrecognized option: {key!r}; \"o\" lists the options")
        if key == "sample_index" and value:
            types = [t.type for t in self.profile.sample_types]
            if not value.isdigit() and value not in types and value.removeprefix("mean_") not in types:
                raise PprofError(f'sample_index "{value}" must be one of: [{" ".join(types)}]')
        self.options.set(key, value)

    def _option_value(self, name: str) -> str:
        if name == "output":
            return self.output or '""'
        value = getattr(self.options, name)
        if isinstance(value, bool):
            return "true" if value else "false"
        if name == "sample_index" and not value:
            return self.profile.sample_types[self.profile.sample_type_index()].type
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value) if value != "" else '""'

    def parse(self, tokens: list[str]) -> ParsedCommand:
        """go tool pprof's reading of a report command: ``top10``, ``top 10 re -ign -cum >f``."""
        head = tokens[0]
        count = None
        match = re.fullmatch(r"([a-z]+?)(\d+)", head)
        if match and match.group(1) in _COUNTED:
            head, count = match.group(1), int(match.group(2))
        if head not in COMMANDS:
            raise PprofError(f'unrecognized command: "{head}"')
        opts = dataclasses.replace(self.options)
        argument = None
        output = None
        focus, ignore = [], []
        args = iter(tokens[1:])
        for arg in args:
            if arg.startswith(">"):
                output = arg[1:] or next(args, None)
                if not output:
                    raise PprofError("> needs a file name")
            elif arg in ("-cum", "--cum"):
                opts.sort = "cum"
            elif arg in ("-flat", "--flat"):
                opts.sort = "flat"
            elif head in _WITH_PARAM and argument is None and not arg.startswith("-"):
                argument = arg
            elif count is None and head in _COUNTED and arg.isdigit():
                count = int(arg)
            elif arg.startswith("-") and len(arg) > 1:
                ignore.append(arg[1:])
            else:
                focus.append(arg)
        if head == "tags":
            if focus:
                opts.set("tagshow", "|".join(focus))
            if ignore:
                opts.set("taghide", "|".join(ignore))
        else:
            if focus:
                opts.set("focus", "|".join(focus))
            if ignore:
                opts.set("ignore", "|".join(ignore))
        if count is not None:
            opts.nodecount = count
        elif head in ("top", "text") and opts.nodecount == -1:
            opts.nodecount = 10  # go tool pprof's interactive top shows ten
        if head in _WITH_PARAM and argument is None:
            raise PprofError(f"command {head} requires an argument")
        return ParsedCommand(head, opts, argument, output or self.output or None)

    # ------------------------------------------------------------------ reports

    def report(self, cmd: ParsedCommand) -> None:
        name = cmd.name
        if name == "disasm":
            print("disasm: Python code has no machine instructions to disassemble; "
                  f"'list {cmd.argument}' shows its source lines with their costs, and "
                  f"'weblist {cmd.argument}' the same in a browser.", file=self.err)
            return
        if name in _BROWSER:
            self._browse(cmd)
            return
        data = render(self.profile, name, cmd.argument, cmd.options)
        if cmd.output:
            self._write(cmd.output, data)
        elif name in _FILES:
            self._write(next_free_name(_FILES[name][0]), data)
        elif isinstance(data, bytes):
            raise PprofError(f"{name} output is binary; give a file: {name} > FILE")
        else:
            self.out.write(data)

    def _write(self, path: str, data: str | bytes) -> None:
        try:
            with open(path, "wb" if isinstance(data, bytes) else "w") as fh:
                fh.write(data)
        except OSError as exc:
            raise PprofError(f"cannot write {path}: {exc.strerror or exc}") from None
        print(f"Generating report in {path}", file=self.err)

    def _browse(self, cmd: ParsedCommand) -> None:
        data = render(self.profile, cmd.name, cmd.argument, cmd.options)
        path = cmd.output
        if not path:
            directory = os.environ.get("PPROF_TMPDIR") or tempfile.gettempdir()
            os.makedirs(directory, exist_ok=True)
            fd, path = tempfile.mkstemp(prefix=f"pyprofnb-{cmd.name}-", suffix="." + _BROWSER[cmd.name], dir=directory)
            os.close(fd)
        self._write(path, data)
        if cmd.output:
            return
        opened = self._open_browser(path) if self._open_browser else open_in_browser(path)
        if opened:
            print(f"Opened {path} in the web browser", file=self.err)
        else:
            print(f"No web browser found (set BROWSER); open {path}", file=self.err)

    # ------------------------------------------------------------------ help

    def help(self, topic: str) -> None:
        if not topic:
            self.err.write(help_text())
            return
        if topic in COMMANDS:
            line, usage = COMMANDS[topic]
            self.err.write(f"{line}\n  Usage:\n    {usage.format(name=topic + ' ' if topic in _WITH_PARAM else topic)}\n")
            if topic not in ("comments", "raw", "traces", "proto"):
                self.err.write("    Include up to n samples\n    Include samples matching focus_regex, and exclude ignore_regex.\n")
            if "-cum" in usage:
                self.err.write("    -cum sorts the output by cumulative weight\n")
            if ">f" in usage:
                self.err.write("    Optionally save the report on the file f\n")
            self.err.write("\n")
            return
        if topic in _OPTION_HELP:
            self.err.write(_OPTION_HELP[topic] + "\n")
            group = _OPTION_GROUPS.get(topic)
            if group:
                self.err.write("".join(f"  {k:<16} {v}\n" for k, v in group.items()))
            self.err.write("\n")
            return
        for group, members in _OPTION_GROUPS.items():
            if topic in members:
                self.err.write(f"{members[topic]} (sets {group}={topic})\n\n")
                return
        if topic in ("o", "options"):
            self.err.write("List options and their current values\n\n")
            return
        if topic in ("q", "quit", "exit"):
            self.err.write("Exit pprof\n\n")
            return
        self.err.write(f"Unknown command: {topic}\n")

    def print_options(self) -> None:
        rows = []
        for name in sorted(set(OPTION_BY_NAME) - {"source_path"} | {"output"}):  # Go lists no source_path
            note = ""
            if name == "granularity":
                note = "//: [" + " | ".join(sorted(GRANULARITIES)) + "]"
            elif name == "sort":
                note = "//: [cum | flat]"
            elif name == "sample_index":
                note = "//: [" + " | ".join(t.type for t in self.profile.sample_types) + "]"
            elif name == "nodecount" and self.options.nodecount == -1:
                note = "//: default"
            rows.append(f"  {name:<25} = {self._option_value(name):<20} {note}")
        self.err.write("\n".join(rows) + "\n")


def help_text() -> str:
    lines = ["  Commands:"]
    for name in sorted(COMMANDS):
        lines.append(f"    {name:<16} {COMMANDS[name][0]}")
    lines += ["    o/options        List options and their current values",
              "    q/quit/exit/^D   Exit pprof", "", "  Options:"]
    for name in sorted(_OPTION_HELP):
        if name in _OPTION_GROUPS:
            continue
        lines.append(f"    {name:<16} {_OPTION_HELP[name]}")
    lines += ["", "  Option groups (only set one per group):"]
    for group, members in _OPTION_GROUPS.items():
        lines.append(f"    {group}")
        lines += [f"      {k:<16} {v}" for k, v in members.items()]
    lines += ["  :   Clear focus/ignore/hide/tagfocus/tagignore", "",
              '  type "help <cmd|option>" for more information', ""]
    return "\n".join(lines)


def next_free_name(extension: str, directory: str = ".") -> str:
    """go tool pprof's file names for reports written from the shell: profile001.svg, ..."""
    for n in range(1, 100000):
        name = f"profile{n:03d}.{extension}"
        if not os.path.exists(os.path.join(directory, name)):
            return name
    raise PprofError("no free profileNNN file name in the current directory")


def open_in_browser(path: str) -> bool:
    """Open a local file in the user's browser; False when there is none to open."""
    import webbrowser

    try:
        browser = webbrowser.get()
    except webbrowser.Error:
        return False
    return bool(browser.open("file://" + os.path.abspath(path)))


def render(prof, name: str, argument: str | None, options: ReportOptions) -> str | bytes:
    """The output of one shell command or command-line report, as text or bytes."""
    from .report import render_text

    if name == "proto":
        return prof.to_bytes()
    if name == "comments":
        return "".join(c + "\n" for c in prof.comments)
    if name in ("svg", "web"):
        from .web.svgpan import pannable_svg

        return pannable_svg(render_text(prof, "svg", options=options))
    if name in ("png", "pdf", "gif", "ps"):
        from .web.views import run_dot

        return run_dot(render_text(prof, "dot", options=options), name)
    if name == "callgrind":
        from .report.callgrind import callgrind_text

        return callgrind_text(prof, options)
    if name == "topproto":
        from .report.topproto import topproto_bytes

        return topproto_bytes(prof, options)
    if name == "text":
        name = "top"
    return render_text(prof, name, argument, options=options)


def run_shell(prof, options: ReportOptions, stdin=None) -> int:
    """``pyprofnb SOURCE`` with no report flag."""
    return Shell(prof, options).run(stdin)


__all__ = ["COMMANDS", "Shell", "help_text", "next_free_name", "open_in_browser", "render", "run_shell"]
