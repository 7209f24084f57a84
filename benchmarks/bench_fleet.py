"""Fleet benchmarks: scraping cost, query time over a store, storage per profile.

    python benchmarks/bench_fleet.py                  # all three
    python benchmarks/bench_fleet.py scrape --targets 50 --interval 10 --duration 60
    python benchmarks/bench_fleet.py query --profiles 1000
    python benchmarks/bench_fleet.py storage

- scrape: N real demo servers (one process each), scraped every INTERVAL s for profile
  (CPU, seconds=INTERVAL), heap, allocs (seconds=INTERVAL) and goroutine, as Parca would,
  into a store. Reported: the scraper's CPU as a percentage of one core (its process's CPU
  time over the measured wall time), against the reference of only fetching the same URLs on
  the same schedule with `requests` (no decoding, no storing) in the same process, same run.
- query: N profiles (real CPU and heap profiles of the demo server, values varied, 10 jobs,
  one per 10 s) stored in batches as the scraper writes them; `store.top` (DuckDB) timed,
  against the reference of merging the same profiles in memory with `pyprofnb.merge` and
  running the top report.
- storage: bytes on disk per stored profile against the gzipped pprof size of the same
  profiles.

Timings on a shared machine are noisy: each figure is the median of several runs, with the
spread (min-max) printed. Never fails on timing.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def _servers(n: int):
    from demo_server.launch import start_server, stop_server

    started = []
    try:
        for _ in range(n):
            started.append(start_server("-m", "demo_server", cwd=REPO, timeout=120))
    except BaseException:
        for proc, _ in started:
            stop_server(proc)
        raise
    return started


def bench_scrape(targets: int, interval: float, duration: float) -> None:
    import requests

    from demo_server.launch import stop_server
    from pyprofnb.fleet import Scraper

    print(f"starting {targets} demo servers ...", flush=True)
    started = _servers(targets)
    tmp = Path(tempfile.mkdtemp(prefix="pyprofnb-bench-fleet-"))
    urls = [url for _, url in started]
    profiles = ["profile", "heap", "allocs", "goroutine"]
    try:
        # Reference: fetch the same URLs on the same schedule, nothing else.
        stop = threading.Event()

        def fetch_loop(url: str, path: str, delta: bool):
            session = requests.Session()
            while not stop.is_set():
                began = time.monotonic()
                try:
                    session.get(url + path + (f"?seconds={int(interval)}" if delta else ""), timeout=interval + 30)
                except requests.RequestException:
                    pass
                if not delta:
                    stop.wait(max(0.0, began + interval - time.monotonic()))

        threads = [threading.Thread(target=fetch_loop, args=(u, f"/debug/pprof/{p}", p in ("profile", "allocs")),
                                    daemon=True) for u in urls for p in profiles]
        ref = _measure(lambda: [t.start() for t in threads], stop.set, duration, interval)
        time.sleep(interval + 2)  # let the reference's in-flight requests finish

        config = {"interval": interval, "profiles": profiles,
                  "jobs": [{"name": f"svc{j}", "targets": urls[j::5]} for j in range(min(5, len(urls)))]}
        scraper = Scraper(config, tmp / "store")
        got = _measure(scraper.start, scraper.stop, duration, interval)
        stored = int(scraper.status()["stored"].sum())
        print(f"\nscrape: {targets} targets x {len(profiles)} profiles every {interval:g} s, "
              f"{duration:g} s measured (after {interval:g} s warm-up)")
        print(f"  reference (fetch only):  {ref * 100:6.2f}% of one core")
        print(f"  pyprofnb scrape + store: {got * 100:6.2f}% of one core   ({got / ref:.2f}x the reference); "
              f"{stored} profiles stored")
        print(f"  target: under 5% of one core -> {'met' if got < 0.05 else 'NOT met'} on this run "
              f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    finally:
        for proc, _ in started:
            stop_server(proc)
        shutil.rmtree(tmp, ignore_errors=True)


def _measure(start, stop, duration: float, warmup: float) -> float:
    """CPU of this process per wall second between warm-up and warm-up + duration."""
    start()
    time.sleep(warmup)
    c0, w0 = time.process_time(), time.monotonic()
    time.sleep(duration)
    used = (time.process_time() - c0) / (time.monotonic() - w0)
    stop()
    return used


def _sample_profiles():
    """Real CPU and heap profiles of the demo server under load."""
    import requests

    from demo_server.launch import stop_server
    from pyprofnb.codec import decode
    from pyprofnb.loadgen import run_load

    (proc, url), = _servers(1)
    try:
        run = run_load(url + "/sendjson", duration=4, c=4, method="POST", background=True, progress=False)
        cpu = requests.get(url + "/debug/pprof/profile?seconds=3", timeout=60).content
        run.wait()
        heap = requests.get(url + "/debug/pprof/heap", timeout=60).content
    finally:
        stop_server(proc)
    return {"profile": (cpu, decode(cpu)), "heap": (heap, decode(heap))}


def _varied(prof, rng):
    """The profile with each sample's values scaled by a random factor (a different profile
    with the same stacks, as successive scrapes of one service are)."""
    factors = rng.uniform(0.5, 1.5, size=(prof.n_samples, 1))
    return prof.replace(values=np.maximum(1, np.round(prof.values * factors)).astype(np.int64))


def _build_store(path: Path, samples: dict, count: int, batch: int = 50):
    import pandas as pd

    import pyprofnb.store

    rng = np.random.default_rng(1)
    store = pyprofnb.store.open(path, create=True)
    t0 = pd.Timestamp("2026-12-01 10:00", tz="UTC").value
    made, raw_sizes = [], []
    items = []
    for i in range(count):
        kind = "profile" if i % 2 == 0 else "heap"
        prof = _varied(samples[kind][1], rng).replace(time_nanos=t0 + i * 10**10)
        labels = {"job": f"svc{i % 10}", "instance": f"10.0.0.{i % 10}:80"}
        items.append((prof, labels, kind, kind == "profile", None))
        made.append((kind, prof, labels))
        raw_sizes.append(len(prof.to_bytes()))
        if len(items) == batch:
            store.append(items)
            items = []
    if items:
        store.append(items)
    return store, made, raw_sizes


def bench_query(count: int) -> None:
    import pyprofnb

    samples = _sample_profiles()
    tmp = Path(tempfile.mkdtemp(prefix="pyprofnb-bench-query-"))
    try:
        t = time.perf_counter()
        store, made, _ = _build_store(tmp / "store", samples, count)
        print(f"\nquery: {count} stored profiles ({count // 2} CPU, {count // 2} heap; written in "
              f"{time.perf_counter() - t:.1f} s)")
        cpu = [p for kind, p, _ in made if kind == "profile"]
        store.top(kind="profile", n=10)  # warm DuckDB's caches and the imports

        def timed(fn, repeat=5):
            times = []
            for _ in range(repeat):
                t = time.perf_counter()
                result = fn()
                times.append(time.perf_counter() - t)
            return statistics.median(times), min(times), max(times), result

        ref = timed(lambda: pyprofnb.merge(cpu).top(nodefraction=0), repeat=3)
        full = timed(lambda: store.top(kind="profile", n=10))
        sel = timed(lambda: store.top(kind="profile", n=10, job=["svc0", "svc2"],
                                      start="2026-12-01 10:30", end="2026-12-01 12:00"))
        same = full[3]["flat"].to_dict() == ref[3]["flat"].head(10).to_dict()
        print(f"  reference: pyprofnb.merge of the {len(cpu)} CPU profiles in memory + top: "
              f"{ref[0] * 1000:7.0f} ms (min {ref[1] * 1000:.0f}, max {ref[2] * 1000:.0f})")
        print(f"  store.top over all {count} (DuckDB):           {full[0] * 1000:7.0f} ms "
              f"(min {full[1] * 1000:.0f}, max {full[2] * 1000:.0f})  {full[0] / ref[0]:.2f}x the reference; "
              f"same top 10: {same}")
        print(f"  store.top, 2 jobs x 90 minutes:               {sel[0] * 1000:7.0f} ms "
              f"(min {sel[1] * 1000:.0f}, max {sel[2] * 1000:.0f})")
        print(f"  target: under 1 s -> {'met' if full[0] < 1 else 'NOT met'} on this run "
              f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def bench_storage(count: int = 200) -> None:
    samples = _sample_profiles()
    tmp = Path(tempfile.mkdtemp(prefix="pyprofnb-bench-storage-"))
    try:
        print(f"\nstorage: {count} profiles (half CPU, half heap), stored in batches of 50")
        for kind in ("profile", "heap"):
            raw, parsed = samples[kind]
            store, _, sizes = _build_store(tmp / kind, {"profile": samples[kind], "heap": samples[kind]}, count)
            disk = sum(f.stat().st_size for f in (tmp / kind).rglob("*.parquet"))
            per = disk / count
            print(f"  {kind:8} ({parsed.n_samples} samples, {len(parsed.loc_id)} locations): gzipped pprof "
                  f"{statistics.mean(sizes) / 1024:6.1f} KiB/profile, store {per / 1024:6.1f} KiB/profile "
                  f"({per / statistics.mean(sizes):.2f}x)")
        print("  (the dictionary tables are shared: a stack, location or function is stored once for all profiles)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", nargs="*", default=["scrape", "query", "storage"])
    parser.add_argument("--targets", type=int, default=50)
    parser.add_argument("--interval", type=float, default=10)
    parser.add_argument("--duration", type=float, default=60)
    parser.add_argument("--profiles", type=int, default=1000)
    args = parser.parse_args()
    if "storage" in args.what:
        bench_storage()
    if "query" in args.what:
        bench_query(args.profiles)
    if "scrape" in args.what:
        bench_scrape(args.targets, args.interval, args.duration)


if __name__ == "__main__":
    main()
