"""``pyprofnb.store``: profiles kept as Parquet and queried with DuckDB (see pyprofnb.fleet).

    >>> store = pyprofnb.store.open("profiles/", create=True)
    >>> store.top(kind="profile", job="api")
"""
from .fleet.store import Store, StoreError, open  # noqa: A004,F401

__all__ = ["Store", "StoreError", "open"]
