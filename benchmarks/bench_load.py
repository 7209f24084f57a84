"""Load a profile and print -top: pyprofnb against `go tool pprof -top`, same file, same run.

    python benchmarks/bench_load.py            # 100k and 1M samples x ~20 frames
    python benchmarks/bench_load.py 200000     # other sizes

Each command runs as a child process (start-up included); we report wall time, CPU time
(user+sys, steadier on a busy machine) and peak RSS, and the ratios pyprofnb / go. Then the
CPU time of each phase of pyprofnb's run, measured in one more child: import, decompress,
parse (the decoder's checking walk), columns (its filling walk and the model's columns),
graph (filters, nodes, the trimmed graph), render (the text). Never fails on timing.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def measure(cmd: list[str], env: dict) -> dict:
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"{' '.join(cmd)} failed with status {status}")
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "rss_mb": usage.ru_maxrss / 1024, "out": out}


def phases(path: str) -> None:
    """Run in a child: CPU seconds of each phase of ``pyprofnb -top path``, one line."""
    import resource

    marks = [("start", time.process_time())]

    def lap(name):
        marks.append((name, time.process_time()))

    import pyprofnb
    from pyprofnb.codec import _decode, proto
    from pyprofnb.report import render_text  # noqa: F401  (what the command imports)
    lap("import")
    with open(path, "rb") as fh:
        raw = proto.decompress(fh.read())
    lap("decompress")
    counts = _decode.scan(raw)
    lap("parse")
    prof = proto.decode_proto(raw)  # scans again (the parse time above), then fills the columns
    del raw
    marks[-1] = ("parse", marks[-1][1])
    lap("columns")
    from pyprofnb.model.filters import remove_uninteresting
    from pyprofnb.options import ReportOptions
    from pyprofnb.report import _TEXTS
    from pyprofnb.report.core import prepare
    prof = remove_uninteresting(prof)
    rpt = prepare(prof, "top", ReportOptions())
    rpt.trimmed_graph()
    lap("graph")
    _TEXTS["top"](prepare(prof, "top", ReportOptions()))
    lap("graph+render")
    times = {name: t - marks[i][1] for i, (name, t) in enumerate(marks[1:])}
    # The render step above rebuilt the graph: render = (graph+render) - graph.
    times["render"] = max(times.pop("graph+render") - times["graph"], 0.0)
    times["columns"] -= times["parse"]  # decode_proto's own checking walk
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("  ".join(f"{k} {v:.2f}s" for k, v in times.items()) + f"  (peak {peak:.0f} MB, {counts['n_samples']} samples)")


def main() -> None:
    if sys.argv[1:2] == ["--phases"]:
        return phases(sys.argv[2])
    sizes = [int(a) for a in sys.argv[1:]] or [100_000, 1_000_000]
    tmp = Path(tempfile.mkdtemp(prefix="pyprofnb-bench-"))
    env = dict(os.environ, HOME=str(tmp), PPROF_TMPDIR=str(tmp))
    print(f"{'samples':>9} {'file':>8} | {'go wall':>8} {'go cpu':>7} {'go RSS':>8} | {'py wall':>8} {'py cpu':>7} {'py RSS':>8} |"
          f" {'wall':>6} {'cpu':>6} {'RSS':>6}  same text")
    for n in sizes:
        path = tmp / f"heap-{n}.pb.gz"
        # Made in another process: a child's peak RSS counts the pages it shares with its
        # parent before exec, so this process must stay small.
        subprocess.run([sys.executable, str(HERE / "gen_profile.py"), str(n), str(path)], check=True,
                       stdout=subprocess.DEVNULL)
        go = measure(["go", "tool", "pprof", "-top", str(path)], env)
        py = measure([sys.executable, "-m", "pyprofnb", "-top", str(path)], env)
        same = go["out"].split(b"Showing nodes", 1)[-1] == py["out"].split(b"Showing nodes", 1)[-1]
        print(f"{n:>9} {path.stat().st_size / 1e6:>6.1f}MB | {go['wall']:>7.2f}s {go['cpu']:>6.2f}s {go['rss_mb']:>6.0f}MB |"
              f" {py['wall']:>7.2f}s {py['cpu']:>6.2f}s {py['rss_mb']:>6.0f}MB |"
              f" {py['wall'] / go['wall']:>5.2f}x {py['cpu'] / go['cpu']:>5.2f}x {py['rss_mb'] / go['rss_mb']:>5.2f}x  {same}")
        split = subprocess.run([sys.executable, __file__, "--phases", str(path)], capture_output=True, text=True, env=env)
        print(f"{'':>9} pyprofnb CPU by phase: {split.stdout.strip() or split.stderr.strip()[-300:]}")


if __name__ == "__main__":
    main()
