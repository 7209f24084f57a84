"""Scrape /debug/pprof from many targets at an interval into a store, as Parca does.

    >>> scraper = pyprofnb.fleet.Scraper("fleet.toml", store="profiles/").start()
    >>> ...
    >>> scraper.stop()        # flushes what was scraped; scraper.status() says how each loop went

One loop (a thread) per (target, profile): a delta profile (CPU, allocs) is asked for with
``seconds=<interval>``, so its request itself lasts the interval and consecutive profiles tile
time; snapshots (heap, goroutine) are fetched once per interval. Loops start at an offset
derived from the target's name so many targets do not all hit at the same instant.

A failing target is retried with exponential backoff (1 s, 2 s, 4 s ... up to
``max_backoff``), reported through ``on_event`` and in `status`, and never holds up the
others. Memory is bounded: a response larger than ``max_bytes`` is refused, and profiles wait
for the store in a queue of at most ``max_pending``; when the store falls that far behind a
loop drops its newest profile (reported) rather than grow. The writer stores what arrived
every ``flush_interval`` seconds (default 5) in one append: fewer, larger files are cheaper to
write and to query; a crash loses at most the profiles of the unfinished flush.
"""
from __future__ import annotations

import dataclasses
import hashlib
import queue
import signal
import sys
import threading
import time
from typing import Callable

from ..errors import PprofError
from .config import ScrapeConfig, Target, load_config

DEFAULT_MAX_BYTES = 64 << 20


@dataclasses.dataclass
class LoopStatus:
    """How one scrape loop has done so far."""

    target: Target
    scrapes: int = 0
    stored: int = 0
    failures: int = 0
    consecutive_failures: int = 0
    dropped: int = 0
    last_error: str = ""
    last_success: float = 0.0


@dataclasses.dataclass
class Event:
    """Something a user may want to see: ``kind`` is stored, failed, retry, dropped or stopped."""

    kind: str
    target: Target | None
    message: str
    profile_id: int | None = None


class Scraper:
    """Scrapes the targets of a config into a store until stopped."""

    def __init__(self, config, store=None, *, on_event: Callable[[Event], None] | None = None,
                 max_pending: int = 256, max_bytes: int = DEFAULT_MAX_BYTES, max_backoff: float = 60.0,
                 flush_interval: float = 5.0, max_batch: int = 500):
        from .store import Store

        self.config: ScrapeConfig = load_config(config)
        store = store if store is not None else self.config.store
        if store is None:
            raise PprofError("no store to scrape into: give store= or set `store` in the config")
        self.store = store if isinstance(store, Store) else Store(store, create=True)
        import pyarrow.parquet  # noqa: F401  (imported now, not by the first append mid-scrape)
        self.on_event = on_event or (lambda event: None)
        self.max_bytes = max_bytes
        self.max_backoff = max_backoff
        self.flush_interval = flush_interval
        self.max_batch = max_batch
        self._queue: queue.Queue = queue.Queue(maxsize=max_pending)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._writer_thread: threading.Thread | None = None
        self._status = {t: LoopStatus(t) for t in self.config.targets()}
        self._lock = threading.Lock()
        self.write_errors = 0

    # ------------------------------------------------------------ control

    def start(self) -> "Scraper":
        """Start every loop and the writer in background threads; returns self."""
        if self._threads:
            raise PprofError("this scraper is already running")
        self._writer_thread = threading.Thread(target=self._write_loop, name="pyprofnb-scrape-writer", daemon=True)
        self._writer_thread.start()
        for target in self._status:
            th = threading.Thread(target=self._loop, args=(target,), name=f"pyprofnb-scrape {target.name}",
                                  daemon=True)
            th.start()
            self._threads.append(th)
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Stop scraping, store what was already scraped, and return. Requests still in flight
        are abandoned (their loops end when they return)."""
        self._stop.set()
        if self._writer_thread is not None:
            self._writer_thread.join(timeout)
        self.on_event(Event("stopped", None, self.summary()))

    def run(self, duration: float | None = None) -> None:
        """Scrape in the foreground until ``duration`` seconds pass or SIGINT/SIGTERM arrive."""
        previous = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, lambda *_: self._stop.set())
        try:
            self.start()
            deadline = None if duration is None else time.monotonic() + duration
            while not self._stop.is_set():
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    break
                self._stop.wait(0.5 if left is None else min(0.5, left))
        finally:
            self.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def __enter__(self) -> "Scraper":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return bool(self._threads) and not self._stop.is_set()

    def status(self):
        """One row per loop: job, instance, profile, scrapes, stored, failures, dropped, last error."""
        import pandas as pd

        with self._lock:
            rows = [dict(job=s.target.job, instance=s.target.instance, profile=s.target.profile.kind,
                         scrapes=s.scrapes, stored=s.stored, failures=s.failures, dropped=s.dropped,
                         last_error=s.last_error) for s in self._status.values()]
        return pd.DataFrame(rows)

    def summary(self) -> str:
        with self._lock:
            stored = sum(s.stored for s in self._status.values())
            failures = sum(s.failures for s in self._status.values())
            dropped = sum(s.dropped for s in self._status.values())
            failing = sorted({s.target.instance for s in self._status.values() if s.consecutive_failures})
        text = f"stored {stored} profiles, {failures} failed scrapes, {dropped} dropped"
        if failing:
            text += f"; failing now: {', '.join(failing)}"
        return text

    # ------------------------------------------------------------ the loops

    def _loop(self, target: Target) -> None:
        import requests

        from ..codec import decode
        from ..errors import PprofError as _Err

        session = requests.Session()
        status = self._status[target]
        interval = target.interval
        seconds = max(1, round(interval)) if target.profile.delta else None
        url = target.url + target.profile.path
        timeout = self.config.timeout or ((seconds or 0) + max(10.0, interval))
        # Spread the loops over the interval (stable per target, like Prometheus).
        offset = int(hashlib.blake2b(target.name.encode(), digest_size=4).hexdigest(), 16) % 1000 / 1000 * interval
        next_start = time.monotonic() + (0 if target.profile.delta else offset)
        try:
            while not self._stop.is_set():
                if self._stop.wait(max(0.0, next_start - time.monotonic())):
                    return
                started = time.monotonic()
                wall = time.time_ns()
                try:
                    data = _fetch(session, url, seconds, timeout, self.max_bytes)
                    prof = decode(data, source=url)
                except _Err as exc:
                    self._failed(status, str(exc))
                    next_start = time.monotonic() + self._backoff(status)
                    continue
                except Exception as exc:  # a loop must never die: report and retry
                    self._failed(status, f"{type(exc).__name__}: {exc}")
                    next_start = time.monotonic() + self._backoff(status)
                    continue
                if self._stop.is_set():
                    return
                with self._lock:
                    status.scrapes += 1
                    status.consecutive_failures = 0
                    status.last_success = time.time()
                time_nanos = prof.time_nanos or wall  # the server's own time when it gives one
                try:
                    self._queue.put((target, prof, time_nanos), timeout=max(1.0, interval))
                except queue.Full:
                    with self._lock:
                        status.dropped += 1
                    self.on_event(Event("dropped", target, f"{target.name}: the store is behind; profile dropped"))
                # Delta profiles follow each other; snapshots keep to the interval.
                next_start = started + interval if not target.profile.delta else time.monotonic()
                if target.profile.delta and time.monotonic() - started < interval * 0.5:
                    next_start = started + interval  # the server answered early: do not hammer it
        finally:
            session.close()

    def _failed(self, status: LoopStatus, message: str) -> None:
        if self._stop.is_set():
            return  # a request abandoned at shutdown is no failure of the target
        with self._lock:
            status.failures += 1
            status.consecutive_failures += 1
            status.last_error = message
        self.on_event(Event("failed", status.target, f"{status.target.name}: {message}"))

    def _backoff(self, status: LoopStatus) -> float:
        if self._stop.is_set():
            return 0.0
        delay = min(self.max_backoff, 2.0 ** (status.consecutive_failures - 1))
        self.on_event(Event("retry", status.target, f"{status.target.name}: retrying in {delay:g} s"))
        return delay

    # ------------------------------------------------------------ the writer

    def _write_loop(self) -> None:
        while True:
            batch = []
            deadline = time.monotonic() + self.flush_interval
            while len(batch) < self.max_batch:
                left = deadline - time.monotonic()
                if left <= 0 and batch:
                    break
                try:
                    batch.append(self._queue.get(timeout=max(0.05, min(left, 0.25))))
                except queue.Empty:
                    if self._stop.is_set():
                        break
                    if left <= 0:
                        continue
            if batch:
                self._write(batch)
            if self._stop.is_set() and self._queue.empty():
                return

    def _write(self, batch) -> None:
        items = [(prof, dict(target.labels), target.profile.kind, target.profile.delta, t)
                 for target, prof, t in batch]
        try:
            ids = self.store.append(items)
        except Exception as exc:  # a full disk must not kill the scraper: report, keep going
            self.write_errors += 1
            self.on_event(Event("failed", None, f"writing {len(items)} profiles to {self.store.path} failed: {exc}"))
            return
        for (target, _, _), pid in zip(batch, ids):
            with self._lock:
                self._status[target].stored += 1
            self.on_event(Event("stored", target, f"{target.name}: stored profile {pid}", pid))


def _fetch(session, url: str, seconds: int | None, timeout: float, max_bytes: int) -> bytes:
    from ..fetch import fetch

    return fetch(url, seconds=seconds, timeout=timeout, max_bytes=max_bytes, session=session)


def scrape(config, store=None, *, duration: float | None = None, **options) -> Scraper:
    """Scrape in the foreground for ``duration`` seconds (or until Ctrl-C); returns the
    stopped Scraper (``.status()``, ``.store``)."""
    scraper = Scraper(config, store, **options)
    scraper.run(duration)
    return scraper


def main(argv: list[str] | None = None) -> int:
    """``pyprofnb scrape CONFIG [--store DIR] [--duration SECONDS] [--quiet]``."""
    import argparse

    parser = argparse.ArgumentParser(prog="pyprofnb scrape",
                                     description="Scrape /debug/pprof from the targets of CONFIG into a Parquet store "
                                                 "until Ctrl-C (Parca's semantics; see pyprofnb.fleet.config).")
    parser.add_argument("config", help="TOML (or .json) scrape config")
    parser.add_argument("--store", help="store directory (default: `store` in the config)")
    parser.add_argument("--duration", type=float, help="stop after this many seconds")
    parser.add_argument("--quiet", action="store_true", help="report failures only, not every stored profile")
    args = parser.parse_args(argv)

    def report(event: Event) -> None:
        if event.kind == "stored":
            if not args.quiet:
                print(f"stored {event.profile_id} {event.target.name}", flush=True)
        elif event.kind == "stopped":
            print(f"pyprofnb scrape: {event.message}", file=sys.stderr, flush=True)
        else:
            print(f"pyprofnb scrape: {event.message}", file=sys.stderr, flush=True)

    try:
        scraper = Scraper(args.config, args.store, on_event=report)
        targets = scraper.config.targets()
        print(f"pyprofnb scrape: {len(targets)} loops over "
              f"{len({(t.job, t.instance) for t in targets})} targets into {scraper.store.path}",
              file=sys.stderr, flush=True)
        scraper.run(args.duration)
    except PprofError as exc:
        print(f"pyprofnb scrape: {exc}", file=sys.stderr)
        return 2
    return 0
