"""/sendjson throughput of the demo server under `hey -m POST -c 8`, with and without
profiling, measured in the same run; prints req/s and ratios, never fails on timing.

    .venv/bin/python benchmarks/bench_server.py [-n 20000] [--rounds 3]

Configurations (each a fresh `python -m demo_server` process, rounds interleaved so drift
hits all of them alike):
- ``baseline``: heap sampling off (``--heap-rate 0``), no CPU profile;
- ``cpu``: heap sampling off and a CPU profile (``/debug/pprof/profile``) during the load;
- ``heap``: heap sampling at the default rate (how the demo server runs);
- ``heap+cpu``: heap sampling and a CPU profile (``/debug/pprof/profile``) during the load;
- ``naive``: the stdlib's usual send_response/end_headers/write handler without
  TCP_NODELAY, the Nagle/delayed-ACK trap the demo server avoids (fewer requests).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(args: list[str]) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, *args], cwd=REPO, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if not line.startswith("listening on "):
        proc.kill()
        raise SystemExit(f"server did not start: {line!r}")
    return proc, line.split("listening on ", 1)[1].strip()


def hey(url: str, n: int) -> float:
    out = subprocess.run(["hey", "-m", "POST", "-c", "8", "-n", str(n), url], capture_output=True, text=True).stdout
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    return float(m.group(1)) if m else float("nan")


def cpu_seconds(pid: int) -> float:
    """User+system CPU time of a process so far (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(config: str, n: int) -> tuple[float, float]:
    """(req/s, server CPU microseconds per request) of one configuration."""
    port = str(free_port())
    if config == "naive":
        proc, url = start([__file__, "--naive-server", port])
    else:
        extra = ["--heap-rate", "0"] if config in ("baseline", "cpu") else []
        proc, url = start(["-m", "demo_server", "--port", port, *extra])
    try:
        hey(url + "/sendjson", min(n, 2000))  # warm up
        profile = None
        if config in ("cpu", "heap+cpu"):
            def cpu_profile():
                try:
                    urllib.request.urlopen(url + "/debug/pprof/profile?seconds=600", timeout=700).read()
                except OSError:
                    pass  # the server is stopped before the profile ends; that ends it

            profile = threading.Thread(target=cpu_profile)
            profile.daemon = True
            profile.start()
            time.sleep(0.3)
        cpu0 = cpu_seconds(proc.pid)
        rps = hey(url + "/sendjson", n)
        return rps, (cpu_seconds(proc.pid) - cpu0) / n * 1e6
    finally:
        proc.terminate()
        proc.wait()


def naive_server(port: int) -> None:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Naive(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            body = json.dumps({"name": "Bill", "email": "bill@ardanlabs.com", "age": 45,
                               "tags": ["gopher", "pythonista"]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()  # headers flushed here ...
            self.wfile.write(body)  # ... and the body as a second small segment

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Naive)
    server.daemon_threads = True
    print(f"listening on http://127.0.0.1:{port}", flush=True)
    server.serve_forever()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=20000, help="requests per measurement")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--naive-server", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.naive_server:
        naive_server(args.naive_server)
        return 0
    if shutil.which("hey") is None:
        print("hey is not installed (Debian package hey); nothing measured")
        return 0
    configs = ["baseline", "cpu", "heap", "heap+cpu"]
    results: dict[str, list[tuple[float, float]]] = {c: [] for c in configs}
    for r in range(args.rounds):
        for config in configs:
            rps, cpu_us = measure(config, args.n)
            results[config].append((rps, cpu_us))
            print(f"round {r + 1}: {config:9s} {rps:7.0f} req/s {cpu_us:7.1f} us CPU/request", flush=True)
    naive, _ = measure("naive", 1000)
    base_rps = statistics.median(r for r, _ in results["baseline"])
    base_cpu = statistics.median(c for _, c in results["baseline"])
    print("\npaired per-round ratios against the round's own baseline (median, range):")
    for config in configs[1:]:
        rr = [results[config][i][0] / results["baseline"][i][0] for i in range(args.rounds)]
        cr = [results[config][i][1] / results["baseline"][i][1] for i in range(args.rounds)]
        print(f"  {config:9s} req/s x{statistics.median(rr):.3f} ({min(rr):.3f}..{max(rr):.3f})   "
              f"CPU/request x{statistics.median(cr):.3f} ({min(cr):.3f}..{max(cr):.3f})")
    # Throughput swings with whatever else runs on the machine; the server's CPU time per
    # request hardly does, so it is the steadier measure of what profiling costs.
    print(f"\n/sendjson, hey -m POST -c 8 -n {args.n}, median of {args.rounds} rounds")
    print(f"{'configuration':14s} {'req/s':>7s} {'ratio':>6s}   {'CPU/req':>9s} {'ratio':>6s}  profiling cost (CPU)")
    for config in configs:
        rps = statistics.median(r for r, _ in results[config])
        cpu = statistics.median(c for _, c in results[config])
        print(f"{config:14s} {rps:7.0f} {rps / base_rps:6.3f}   {cpu:7.1f}us {cpu / base_cpu:6.3f}  {100 * (cpu / base_cpu - 1):+.1f}%")
    print(f"{'naive stdlib':14s} {naive:7.0f} {naive / base_rps:6.3f}   (Nagle/delayed-ACK trap, -n 1000)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
