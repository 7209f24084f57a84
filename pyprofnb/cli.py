"""The ``pyprofnb`` command: go tool pprof's flags and reports for any profile source, and
``pyprofnb load`` (hey's flags) for load generation.

    pyprofnb -top -inuse_space http://127.0.0.1:4000/debug/pprof/heap
    pyprofnb -base base.heap -top current.heap
    pyprofnb load -m POST -c 8 -n 100000 http://127.0.0.1:4000/sendjson
"""
from __future__ import annotations

import shlex
import sys

from .errors import PprofError
from .options import FILE_REPORTS, REPORTS, parse_args, usage
from .sources import load_sources

_BINARY = {"proto"}


def _render(prof, report: str, argument: str | None, options) -> str | bytes:
    if report == "proto":
        return prof.to_bytes()
    from .report import render_text

    return render_text(prof, "svg" if report == "web" else report, argument, options=options)


def _default_output(report: str, output: str | None) -> str | None:
    """SVG and HTML reports go to a file when none is named (go tool pprof's -web does too)."""
    if output or report not in FILE_REPORTS or (report in ("svg", "flame") and not sys.stdout.isatty()):
        return output
    import tempfile

    fd, path = tempfile.mkstemp(prefix=f"pyprofnb-{report}-", suffix=FILE_REPORTS[report])
    import os

    os.close(fd)
    return path


def _write(result: str | bytes, output: str | None) -> None:
    if output:
        mode = "wb" if isinstance(result, bytes) else "w"
        with open(output, mode) as fh:
            fh.write(result)
        print(f"Generating report in {output}", file=sys.stderr)
    elif isinstance(result, bytes):
        if sys.stdout.isatty():
            raise PprofError("refusing to write binary output to a terminal; use -output FILE")
        sys.stdout.buffer.write(result)
    else:
        sys.stdout.write(result)


def interactive(prof, options) -> int:
    """A small ``(pprof)`` shell: ``top10``, ``top -cum``, ``list re``, ``peek re``, ``traces``,
    ``name=value`` to set an option, ``quit``."""
    print('Entering interactive mode (type "help" for commands, "o" for options)')
    while True:
        try:
            line = input("(pprof) ").strip()
        except EOFError:
            print()
            return 0
        if not line:
            continue
        if line in ("q", "quit", "exit"):
            return 0
        if line in ("help", "o", "options"):
            print(usage() if line == "help" else "\n".join(f"  {k:<22} = {v}" for k, v in vars(options).items()))
            continue
        try:
            if "=" in line and " " not in line.split("=", 1)[0] and not line.startswith("-"):
                key, value = line.split("=", 1)
                options.set(key.strip(), value.strip())
                continue
            words = shlex.split(line)
            head = words[0]
            count = None
            for name in ("top", "tree", "traces", "peek"):
                if head.startswith(name) and head[len(name):].isdigit():
                    head, count = name, int(head[len(name):])
            if head not in REPORTS:
                print(f"Unrecognized command: {head!r}")
                continue
            cmd = parse_args(["-" + head] + (words[1:2] if REPORTS[head] == "required" else []) +
                             [w for w in words[(2 if REPORTS[head] == "required" else 1):]])
            opts = options.replace(**{k: v for k, v in vars(cmd.options).items() if v != getattr(type(options)(), k)})
            if count is not None:
                opts.nodecount = count
            elif head == "top" and opts.nodecount == -1:
                opts.nodecount = 10
            opts.compact_labels = True
            _write(_render(prof, cmd.report, cmd.argument, opts), cmd.output)
        except PprofError as exc:
            print(exc)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("loadgen", "load"):
        if argv[0] == "load":  # the old name, easily read as pyprofnb.load() (read a profile)
            print("pyprofnb: 'pyprofnb load' is deprecated, use 'pyprofnb loadgen' (same flags)",
                  file=sys.stderr)
        from .loadgen import main as load_main

        return load_main(argv[1:])
    if not argv or argv[0] in ("-h", "-help", "--help", "help"):
        print(usage())
        return 0 if argv else 2
    try:
        cmd = parse_args(argv)
        if not cmd.sources:
            raise PprofError("no profile source given: name a file or a URL")
        prof = load_sources(cmd.sources, seconds=cmd.seconds, timeout=cmd.timeout, base=cmd.base,
                            diff_base=cmd.diff_base, normalize=cmd.options.normalize,
                            all_frames=cmd.all_frames)
        if cmd.report is None:
            if not sys.stdin.isatty():
                cmd.report = "top"
            else:
                return interactive(prof, cmd.options)
        _write(_render(prof, cmd.report, cmd.argument, cmd.options), _default_output(cmd.report, cmd.output))
    except PprofError as exc:
        print(f"pyprofnb: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
