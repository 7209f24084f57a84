"""Run every benchmark in turn (`make bench`). Each prints its figures as ratios against a
reference measured in the same run; none fails on a timing."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = ["bench_load.py", "bench_engine.py", "bench_instructions.py", "bench_import.py", "bench_server.py",
              "bench_loadgen.py", "bench_fleet.py", "bench_asyncio.py"]

if __name__ == "__main__":
    status = 0
    for name in BENCHMARKS:
        print(f"\n=== {name} ===", flush=True)
        status |= subprocess.call([sys.executable, str(HERE / name)])
    sys.exit(status)
