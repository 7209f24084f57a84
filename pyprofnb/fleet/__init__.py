"""Fleets: scrape /debug/pprof from many services, store profiles as Parquet, query them with
DuckDB (embedded) or Spark, and push them to Pyroscope or OpenTelemetry.

    >>> scraper = pyprofnb.fleet.Scraper("fleet.toml", store="profiles/").start()
    >>> store = pyprofnb.store.open("profiles/")
    >>> store.top(kind="profile", job="api", start="2026-12-02 13:00")

Uses the model and codec only (plus fetching); reports run on the merged Profiles it returns.
"""
from .config import ScrapeConfig, load_config
from .scrape import Event, Scraper, scrape
from .store import Store, StoreError, open  # noqa: A004

__all__ = ["Event", "ScrapeConfig", "Scraper", "Store", "StoreError", "load_config", "open", "scrape"]
