"""The same store queried with Apache Spark, for data beyond one machine.

    >>> from pyprofnb.fleet.spark import SparkStore
    >>> store = SparkStore("profiles/")                 # local mode: local[*]
    >>> store.top(kind="profile", job="api", n=10)      # the numbers of Store.top
    >>> store.diff(before=(t0, t1), after=(t1, t2))

On a cluster, put the store where every executor can read it (HDFS, S3 through ``s3a://``,
a shared file system) and hand SparkStore a session built for the cluster::

    spark = (SparkSession.builder.master("spark://head:7077")   # or "yarn", "k8s://..."
             .config("spark.executor.memory", "8g").getOrCreate())
    store = SparkStore("s3a://bucket/profiles", spark=spark)

or submit a script that does so with ``spark-submit --master ...``. The tables are plain
Parquet with Hive-style partitions (``date=``, ``hour=``), so Spark prunes by time when a
query has a window. The queries are Spark SQL over temporary views named like the tables
(``strings``, ``functions``, ``locations``, ``stacks``, ``samples``, ``profiles``), which you
may query yourself with ``store.spark.sql(...)``.
"""
from __future__ import annotations

import warnings
from typing import Mapping

from ..errors import OptionError
from .schema import DICTIONARY_TABLES
from .store import StoreError, _finish_top, _to_us, resolve_sample_type


def local_session(app_name: str = "pyprofnb", cores: str = "*"):
    """A local-mode SparkSession with settings for small machines (no UI, few shuffle partitions)."""
    from pyspark.sql import SparkSession

    spark = (SparkSession.builder.master(f"local[{cores}]").appName(app_name)
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.shuffle.partitions", "4")
            .config("spark.sql.session.timeZone", "UTC")
            .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    return spark


class SparkStore:
    """A profile store read by Spark (see the module docstring)."""

    def __init__(self, path: str, spark=None):
        self.path = str(path).rstrip("/")
        self.spark = spark or local_session()
        self._register()

    def _register(self) -> None:
        read = self.spark.read
        for table in DICTIONARY_TABLES:
            read.parquet(f"{self.path}/{table}").dropDuplicates(["id"]).createOrReplaceTempView(table)
        for table in ("samples", "profiles"):
            (read.option("basePath", f"{self.path}/{table}").parquet(f"{self.path}/{table}")
             .createOrReplaceTempView(f"{table}_all" if table == "samples" else table))
        self.spark.sql("SELECT s.* FROM samples_all s LEFT SEMI JOIN profiles p ON s.profile_id = p.profile_id"
                       ).createOrReplaceTempView("samples")
        self.spark.sql("""SELECT f.stack_id, f.depth, fn.id AS function_id, str.value AS name
                          FROM (SELECT st.id AS stack_id, posexplode(st.function_ids) AS (depth, fid) FROM stacks st) f
                          JOIN functions fn ON fn.id = f.fid JOIN strings str ON str.id = fn.name_id
                       """).createOrReplaceTempView("frames")

    def sql(self, query: str, **args):
        """Spark SQL over the store's views, as a pandas DataFrame."""
        return _pandas(self.spark.sql(query, args=args or None))

    def _sample_type(self, sample_type, where: str, args: dict) -> str:
        rows = self.spark.sql(f"SELECT DISTINCT sample_types, default_sample_type FROM profiles p WHERE {where}",
                              args=args or None).collect()
        if not rows:
            raise StoreError(f"{self.path}: no stored profile matches the selection")
        return resolve_sample_type([list(r["sample_types"]) for r in rows], rows[0]["default_sample_type"],
                                   sample_type)

    def top(self, kind: str = "profile", sample_type=None, start=None, end=None, n: int | None = 10, **labels):
        """Store.top, computed by Spark."""
        where, args = _selection(kind, start, end, labels, "")
        st = self._sample_type(sample_type, where, args)
        args["st"] = st
        query = ("WITH per_stack AS (" + _PER_STACK.format(where=where, st=":st") + "), "
                 "funcs AS (" + _FUNC_VALUES.format(ps="per_stack") + ") "
                 "SELECT name, flat, cum FROM funcs ORDER BY abs(flat) DESC, name" + _limit(n))
        frame = _pandas(self.spark.sql(query, args=args))
        total = self._total(st, where, args)
        return _finish_top(frame, total, st)

    def _total(self, st: str, where: str, args: dict) -> int:
        row = self.spark.sql(f"SELECT CAST(sum(abs(element_at(totals, CAST(array_position(sample_types, :st) AS INT)))) AS BIGINT) AS t "
                             f"FROM profiles p WHERE {where}", args={**args, "st": st}).collect()[0]
        return int(row["t"] or 0)

    def diff(self, before: tuple, after: tuple, kind: str = "profile", sample_type=None, n: int | None = 10, **labels):
        """Store.diff, computed by Spark."""
        where_a, args_a = _selection(kind, before[0], before[1], labels, "a")
        where_b, args_b = _selection(kind, after[0], after[1], labels, "b")
        args = {**args_a, **args_b}
        st = self._sample_type(sample_type, f"({where_a}) OR ({where_b})", args)
        args["st"] = st
        query = ("WITH ps_a AS (" + _PER_STACK.format(where=where_a, st=":st") + "), "
                 "ps_b AS (" + _PER_STACK.format(where=where_b, st=":st") + "), "
                 "fa AS (" + _FUNC_VALUES.format(ps="ps_a") + "), fb AS (" + _FUNC_VALUES.format(ps="ps_b") + ") "
                 "SELECT coalesce(fa.name, fb.name) AS name, coalesce(fa.flat, 0) AS flat_before, "
                 "coalesce(fb.flat, 0) AS flat_after, coalesce(fb.flat, 0) - coalesce(fa.flat, 0) AS flat_delta, "
                 "coalesce(fa.cum, 0) AS cum_before, coalesce(fb.cum, 0) AS cum_after, "
                 "coalesce(fb.cum, 0) - coalesce(fa.cum, 0) AS cum_delta "
                 "FROM fa FULL OUTER JOIN fb ON fa.name = fb.name "
                 "ORDER BY abs(flat_delta) DESC, abs(cum_delta) DESC, name" + _limit(n))
        frame = _pandas(self.spark.sql(query, args=args)).set_index("name")
        frame.attrs.update(sample_type=st, base_total=self._total(st, where_a, args_a),
                           total=self._total(st, where_b, args_b))
        return frame


def _pandas(df):
    with warnings.catch_warnings():
        # pyspark warns about pandas versions newer than it has tested; the columns here are plain.
        warnings.simplefilter("ignore", FutureWarning)
        return df.toPandas()


_PER_STACK = """
    SELECT s.stack_id, sum(element_at(s.values, CAST(array_position(p.sample_types, {st}) AS INT))) AS v
    FROM samples_all s JOIN profiles p ON s.profile_id = p.profile_id AND s.date = p.date AND s.hour = p.hour
    WHERE {where} AND element_at(s.values, CAST(array_position(p.sample_types, {st}) AS INT)) != 0
    GROUP BY s.stack_id
"""

_FUNC_VALUES = """
    SELECT f.name, CAST(sum(CASE WHEN f.first THEN ps.v ELSE 0 END) AS BIGINT) AS flat,
           CAST(sum(ps.v) AS BIGINT) AS cum
    FROM (SELECT stack_id, name, bool_or(depth = 0) AS first FROM frames GROUP BY stack_id, name) f
    JOIN {ps} ps ON ps.stack_id = f.stack_id
    GROUP BY f.name
"""


def _limit(n) -> str:
    if n is None:
        return ""
    if not isinstance(n, int) or n < 1:
        raise OptionError(f"n must be a positive integer or None, got {n!r}")
    return f" LIMIT {n}"


def _selection(kind, start, end, labels: Mapping, tag: str) -> tuple[str, dict]:
    """WHERE over alias ``p`` with Spark's named parameters (``:name``)."""
    clauses, args = [], {}
    if kind is not None:
        clauses.append(f"p.kind = :kind{tag}")
        args[f"kind{tag}"] = kind
    start_us, end_us = _to_us(start), _to_us(end)
    if start_us is not None:
        clauses.append(f"p.time_nanos >= :start{tag}")
        args[f"start{tag}"] = start_us * 1000
    if end_us is not None:
        clauses.append(f"p.time_nanos < :end{tag}")
        args[f"end{tag}"] = end_us * 1000
    for i, (key, value) in enumerate(labels.items()):
        values = list(value) if isinstance(value, (list, tuple, set)) else [value]
        args[f"k{tag}{i}"] = str(key)
        marks = []
        for j, v in enumerate(values):
            args[f"v{tag}{i}_{j}"] = str(v)
            marks.append(f":v{tag}{i}_{j}")
        clauses.append(f"p.labels[:k{tag}{i}] IN ({', '.join(marks)})")
    return (" AND ".join(clauses) or "true"), args
