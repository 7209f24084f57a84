"""Soak the demo server under `hey` with heap sampling on: memory and throughput must stay flat.

    python benchmarks/soak_server.py              # 10 rounds of 30 s = 5 minutes
    python benchmarks/soak_server.py 4 15         # rounds, seconds per round

Each round runs ``hey -z <s>s -c 8 -m POST /sendjson`` against a fresh `python -m demo_server`
(heap sampling at its default rate), then reads the server's RSS (/proc), the size of
``heap?debug=1`` and its number of records. A leak shows as growth from round to round; the
table prints each round and the last/first ratios (the first round is the warm-up reference,
measured in the same run). Never fails on timing.
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from demo_server.launch import start_server, stop_server  # noqa: E402


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def round_stats(proc, url: str, seconds: float, concurrency: int = 8) -> dict:
    out = subprocess.run(["hey", "-z", f"{seconds:g}s", "-c", str(concurrency), "-m", "POST", url + "/sendjson"],
                         capture_output=True, text=True, timeout=seconds + 60).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    heap_text = requests.get(url + "/debug/pprof/heap?debug=1", timeout=60).text
    records = len(re.findall(r"^-?\d+: -?\d+ \[", heap_text, re.M))
    return {"rps": rps, "rss_mb": rss_mb(proc.pid), "heap_text_kb": len(heap_text) / 1024, "records": records}


def soak(rounds: int, seconds: float, *, report=print) -> list[dict]:
    proc, url = start_server("-m", "demo_server", cwd=REPO)
    try:
        rows = []
        for i in range(rounds):
            row = round_stats(proc, url, seconds)
            rows.append(row)
            report(f"round {i + 1:>2}: {row['rps']:>9.0f} req/s  RSS {row['rss_mb']:>6.1f} MB  "
                   f"heap?debug=1 {row['heap_text_kb']:>7.1f} kB  {row['records']:>5} records")
        return rows
    finally:
        stop_server(proc)


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 30
    print(f"demo server under hey -c 8 POST /sendjson, heap sampling on, {rounds} x {seconds:g} s (machine shared: "
          f"throughput is noisy)")
    rows = soak(rounds, seconds)
    first, last = rows[0], rows[-1]
    print(f"last/first: req/s {last['rps'] / first['rps']:.2f}x  RSS {last['rss_mb'] / first['rss_mb']:.2f}x  "
          f"heap?debug=1 {last['heap_text_kb'] / first['heap_text_kb']:.2f}x  records "
          f"{last['records'] / max(first['records'], 1):.2f}x; req/s spread {min(r['rps'] for r in rows):.0f}.."
          f"{max(r['rps'] for r in rows):.0f}")


if __name__ == "__main__":
    main()
