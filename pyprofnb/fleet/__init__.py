"""Fleets: scrape /debug/pprof from many services, store profiles as Parquet, query them with
DuckDB (embedded) or Spark, and push them to Pyroscope or OpenTelemetry.

Uses the model and codec only (plus fetching); reports run on the merged Profiles it returns.
"""
from .store import Store, StoreError, open  # noqa: A004

__all__ = ["Store", "StoreError", "open"]
