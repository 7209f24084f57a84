"""Requests/s of `pyprofnb loadgen` against `hey` with the same flags, in the same run.

Two servers: the demo server (Python; the tutorial's target) and a small Go net/http
server (benchmarks/goserver, built here with `go build`) fast enough that the load
generator itself is what gets measured. Each tool runs the same command alternately,
ROUNDS times; the median requests/s of each gives the ratio. Counts of requests and status
codes are compared too. Targets: >= 1.0x hey on the demo server, >= 0.8x on the Go server.
Prints figures; never fails on a timing (exit 1 only if a tool or server did not run).

    python benchmarks/bench_loadgen.py [--rounds 3] [--quick]
"""
from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TARGETS = {"demo server": 1.0, "Go net/http": 0.8}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(cmd: list[str], env=None, cwd=REPO) -> tuple[subprocess.Popen, str]:
    """Start a server that prints 'listening on URL'; return it and its URL."""
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if line.startswith("listening on "):
            return proc, line.split("listening on ", 1)[1].strip()
    proc.kill()
    raise RuntimeError(f"{cmd[0]} did not start")


def build_go_server(tmp: Path) -> Path:
    env = dict(os.environ, GOCACHE=str(tmp / "gocache"), GOPATH=str(tmp / "gopath"),
               GO111MODULE="off", GOFLAGS="", GOTOOLCHAIN="local", HOME=str(tmp))
    out = tmp / "goserver"
    subprocess.run(["go", "build", "-o", str(out), "main.go"], check=True, env=env,
                   cwd=REPO / "benchmarks" / "goserver", capture_output=True, timeout=300)
    return out


def run_tool(tool: list[str], args: list[str]) -> tuple[float, dict]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    r = subprocess.run([*tool, *args], capture_output=True, text=True, timeout=600)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(tool)} failed: {r.stderr.strip()[:300]}")
    rps = float(re.search(r"Requests/sec:\t\s*([\d.]+)", r.stdout).group(1))
    codes = {int(c): int(n) for c, n in re.findall(r"^  \[(\d+)\]\t(\d+) responses$", r.stdout, re.M)}
    errors = sum(int(n) for n in re.findall(r"^  \[(\d+)\]\t(?!\d+ responses)", r.stdout, re.M))
    n = sum(codes.values()) + errors
    # CPU per request (start-up included) tells how light each tool is, even when the
    # machine is busy enough to make requests/s noisy.
    return rps, {"codes": codes, "errors": errors, "cpu_us": 1e6 * cpu / max(n, 1)}


def compare(name: str, url: str, args: list[str], rounds: int) -> float:
    hey = [shutil.which("hey")]
    ours = [sys.executable, "-m", "pyprofnb.loadgen"]
    print(f"\n{name}: {' '.join(args)} {url}")
    got = {"hey": [], "pyprofnb loadgen": []}
    seen, cpu_us = {}, {}
    for i in range(rounds):
        for label, tool in (("hey", hey), ("pyprofnb loadgen", ours)) if i % 2 == 0 else \
                (("pyprofnb loadgen", ours), ("hey", hey)):
            rps, counts = run_tool(tool, [*args, url])
            cpu = counts.pop("cpu_us")
            got[label].append(rps)
            cpu_us.setdefault(label, []).append(cpu)
            seen.setdefault(label, []).append(counts)
            print(f"  round {i + 1}  {label:14s} {rps:10.1f} req/s  {cpu:6.1f} us CPU/request  "
                  f"{counts['codes']} errors={counts['errors']}")
    ratio = statistics.median(got["pyprofnb loadgen"]) / statistics.median(got["hey"])
    same = all(c == seen["hey"][0] for c in seen["hey"] + seen["pyprofnb loadgen"])
    target = TARGETS[name]
    print(f"  median: hey {statistics.median(got['hey']):.1f} req/s, pyprofnb loadgen "
          f"{statistics.median(got['pyprofnb loadgen']):.1f} req/s -> {ratio:.2f}x hey "
          f"(target >= {target}x: {'met' if ratio >= target else 'NOT met'}); "
          f"counts {'identical' if same else 'DIFFER'}")
    print(f"  CPU per request: hey {statistics.median(cpu_us['hey']):.1f} us, pyprofnb loadgen "
          f"{statistics.median(cpu_us['pyprofnb loadgen']):.1f} us")
    return ratio


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="fewer requests (a smoke run)")
    a = ap.parse_args(argv)
    if not shutil.which("hey") or not shutil.which("go"):
        print("bench_loadgen: needs hey and go (Debian packages hey, golang-go); skipped")
        return 0
    scale = 10 if a.quick else 1
    print(f"bench_loadgen: {os.cpu_count()} CPUs, load average "
          f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory(prefix="bench_loadgen") as tmp:
        procs = []
        try:
            demo, demo_url = start([sys.executable, "-m", "demo_server", "--port",
                                    str(free_port())])
            procs.append(demo)
            go, go_url = start([str(build_go_server(Path(tmp))), "-addr",
                                f"127.0.0.1:{free_port()}"])
            procs.append(go)
            # the tutorial's command, then hey's defaults (-c 50)
            compare("demo server", demo_url + "/sendjson",
                    ["-m", "POST", "-c", "8", "-n", str(20000 // scale)], a.rounds)
            compare("Go net/http", go_url + "/sendjson",
                    ["-m", "POST", "-c", "8", "-n", str(100000 // scale)], a.rounds)
            compare("Go net/http", go_url + "/sendjson",
                    ["-c", "50", "-n", str(100000 // scale)], a.rounds)
        except (RuntimeError, subprocess.SubprocessError, OSError) as e:
            print(f"bench_loadgen: {e}")
            return 1
        finally:
            for p in procs:
                p.terminate()
                p.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
