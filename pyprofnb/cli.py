"""The ``pyprofnb`` command: go tool pprof's flags and reports for any profile source, and
``pyprofnb load`` (hey's flags) for load generation.

    pyprofnb -top -inuse_space http://127.0.0.1:4000/debug/pprof/heap
    pyprofnb -base base.heap -top current.heap
    pyprofnb load -m POST -c 8 -n 100000 http://127.0.0.1:4000/sendjson
    pyprofnb scrape fleet.toml          (profiles of many services into a Parquet store)
"""
from __future__ import annotations

import sys

from .errors import PprofError
from .options import BINARY_REPORTS, FILE_REPORTS, parse_args, usage
from .sources import load_sources


def _render(prof, report: str, argument: str | None, options) -> str | bytes:
    from .shell import render

    return render(prof, report, argument, options)


def _default_output(report: str, output: str | None) -> str | None:
    """SVG and HTML reports go to a file when none is named (go tool pprof's -web does too)."""
    if output or report not in FILE_REPORTS or (report in ("svg", "flame") and not sys.stdout.isatty()):
        return output
    import tempfile

    fd, path = tempfile.mkstemp(prefix=f"pyprofnb-{report}-", suffix=FILE_REPORTS[report])
    import os

    os.close(fd)
    return path


def _write(result: str | bytes, output: str | None, report: str = "") -> None:
    if output:
        mode = "wb" if isinstance(result, bytes) else "w"
        with open(output, mode) as fh:
            fh.write(result)
        print(f"Generating report in {output}", file=sys.stderr)
    elif isinstance(result, bytes):
        if sys.stdout.isatty():  # as go tool pprof: a file, not bytes on the terminal
            from .shell import next_free_name

            _write(result, next_free_name(BINARY_REPORTS.get(report, ".out").lstrip(".")))
            return
        sys.stdout.buffer.write(result)
    else:
        sys.stdout.write(result)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("loadgen", "load"):
        if argv[0] == "load":  # the old name, easily read as pyprofnb.load() (read a profile)
            print("pyprofnb: 'pyprofnb load' is deprecated, use 'pyprofnb loadgen' (same flags)",
                  file=sys.stderr)
        from .loadgen import main as load_main

        return load_main(argv[1:])
    if argv and argv[0] == "scrape":
        from .fleet.scrape import main as scrape_main

        return scrape_main(argv[1:])
    if not argv or argv[0] in ("-h", "-help", "--help", "help"):
        print(usage())
        return 0 if argv else 2
    try:
        cmd = parse_args(argv)
        if not cmd.sources:
            raise PprofError("no profile source given: name a file or a URL")
        if cmd.http is not None:
            from .web.server import serve, session_from_command

            serve(session_from_command(cmd), cmd.http, open_browser=not cmd.no_browser)
            return 0
        prof = load_sources(cmd.sources, seconds=cmd.seconds, timeout=cmd.timeout, base=cmd.base,
                            diff_base=cmd.diff_base, normalize=cmd.options.normalize,
                            all_frames=cmd.all_frames)
        if cmd.report is None:
            # The (pprof) shell, on a terminal or reading commands from a pipe, as Go's.
            from .shell import run_shell

            return run_shell(prof, cmd.options)
        _write(_render(prof, cmd.report, cmd.argument, cmd.options), _default_output(cmd.report, cmd.output),
               cmd.report)
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
