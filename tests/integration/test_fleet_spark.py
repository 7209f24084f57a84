"""The same store queried by Spark (local mode) gives DuckDB's numbers for top-N and diff."""
from __future__ import annotations

import pandas as pd
import pytest

import pyprofnb
import pyprofnb.store
from pyprofnb.fleet.spark import SparkStore
from pyprofnb.loadgen import run_load

T0 = pd.Timestamp("2026-12-01 10:00", tz="UTC")


@pytest.fixture(scope="module")
def store(tmp_path_factory, demo_server, go_profiles):
    """Real profiles in two windows an hour apart (so two hour partitions): Go's heap and
    allocs snapshots, and CPU profiles of the demo server under load, for two services."""
    import requests

    store = pyprofnb.store.open(tmp_path_factory.mktemp("spark") / "store", create=True)
    for i, (heap, allocs) in enumerate([("heap", "allocs"), ("heap2", "allocs2")]):
        when = T0 + pd.Timedelta(hours=i)
        store.add(go_profiles[heap], labels={"job": "go"}, kind="heap", time=when)
        store.add(go_profiles[allocs], labels={"job": "go"}, kind="allocs", time=when)
    for i in range(4):
        run = run_load(demo_server + "/sendjson", duration=3, c=4, method="POST", background=True, progress=False)
        data = requests.get(f"{demo_server}/debug/pprof/profile?seconds=2", timeout=30).content
        run.wait()
        store.add(data, labels={"job": "api" if i % 2 else "web"}, time=T0 + pd.Timedelta(minutes=30 * i + 1))
    return store


@pytest.fixture(scope="module")
def spark_store(store, spark):
    return SparkStore(store.path, spark=spark)


def _same(a, b):
    pd.testing.assert_frame_equal(a.reset_index(drop=False), b.reset_index(drop=False), check_dtype=False,
                                  check_exact=True)


@pytest.mark.parametrize("kind,sample_type,labels", [
    ("profile", None, {}), ("profile", "samples", {"job": "api"}), ("heap", "inuse_space", {"job": "go"}),
])
def test_top_n_same_numbers(store, spark_store, kind, sample_type, labels):
    duck = store.top(kind=kind, sample_type=sample_type, n=None, **labels)
    assert duck.attrs["total"] > 0 and len(duck) >= 5
    spark = spark_store.top(kind=kind, sample_type=sample_type, n=None, **labels)
    _same(duck, spark)
    assert spark.attrs == duck.attrs


@pytest.mark.parametrize("kind,sample_type", [("allocs", "alloc_space"), ("profile", "cpu")])
def test_diff_same_numbers(store, spark_store, kind, sample_type):
    before, after = (T0, T0 + pd.Timedelta(minutes=59)), (T0 + pd.Timedelta(minutes=59), T0 + pd.Timedelta(hours=2))
    duck = store.diff(before, after, kind=kind, sample_type=sample_type, n=None)
    assert (duck["flat_delta"] != 0).any()
    spark = spark_store.diff(before, after, kind=kind, sample_type=sample_type, n=None)
    _same(duck, spark)
    assert spark.attrs == duck.attrs
