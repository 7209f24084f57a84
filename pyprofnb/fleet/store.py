"""A directory of Parquet files holding many profiles (layout in `pyprofnb.fleet.schema`),
written atomically and queried with DuckDB, embedded.

    >>> store = pyprofnb.store.open("profiles/", create=True)
    >>> store.add("cpu.pprof", labels={"job": "api"})
    >>> store.top(kind="profile", job="api", n=10)
    >>> prof = store.merged(kind="profile", start="2026-12-02 13:00", end="2026-12-02 13:10")
    >>> prof.top()                      # any report of the merged profile

How an append stays atomic. Each file is written under a hidden temporary name
(``.part-<uuid>.parquet.tmp``: DuckDB's ``*.parquet`` globs and Spark's listing both skip it),
flushed to disk, then renamed into place (``rename`` is atomic on POSIX). The files of an append
go in a fixed order: dictionary rows first, then the samples, then the ``profiles`` rows, which
are the commit: every query joins samples to profiles, so a profile exists once its row does, and
its row is only renamed into place after everything it refers to. A crash (even ``kill -9``)
mid-append leaves at most a temporary file (removed by the next writer) and rows nobody refers to;
every profile committed before is intact.
"""
from __future__ import annotations

import builtins
import glob
import json
import os
import random
import threading
import time as _time
import uuid
from typing import Iterable, Mapping, Sequence

import numpy as np

from ..errors import OptionError, PprofError
from .schema import DICTIONARY_TABLES, FACT_TABLES, SCHEMA_VERSION, TABLES, arrow_schemas, assemble, decompose

MARKER = "_pyprofnb_store.json"
_EMPTY_PARTITION = ("1970-01-01", "00")
# Dictionary ids remembered by a writer to skip rewriting rows; past this many a table's
# memory is cleared (rows written twice are harmless), so a long scrape stays bounded.
MAX_REMEMBERED_IDS = 1_000_000


class StoreError(PprofError):
    """A path that is not a profile store, or a store that cannot be written or read."""


def _fsync_dir(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_parquet_atomically(table, directory: str) -> str:
    """Write ``table`` as ``directory/part-<uuid>.parquet``, all or nothing."""
    import pyarrow.parquet as pq

    os.makedirs(directory, exist_ok=True)
    name = f"part-{uuid.uuid4().hex}.parquet"
    tmp = os.path.join(directory, f".{name}.{os.getpid()}.tmp")
    final = os.path.join(directory, name)
    with builtins.open(tmp, "wb") as fh:
        pq.write_table(table, fh, compression="zstd")
        fh.flush()
        os.fsync(fh.fileno())
    os.rename(tmp, final)
    _fsync_dir(directory)
    return final


def _partition(time_us: int) -> tuple[str, str]:
    t = _time.gmtime(time_us // 1_000_000)
    return _time.strftime("%Y-%m-%d", t), f"{t.tm_hour:02d}"


def _to_us(value) -> int | None:
    """A time bound as microseconds since the epoch (UTC): datetime, pandas Timestamp,
    ISO string, or a number of seconds."""
    if value is None:
        return None
    import pandas as pd

    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return int(value * 1_000_000)
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise OptionError(f"time {value!r} is not a time: expected a datetime, an ISO string or epoch seconds ({exc})") from None
    if ts.tzinfo is None:
        ts = ts.tz_localize("UTC")
    return int(ts.value // 1000)


class Writer:
    """Appends profiles to a store; one per process is enough (appends are serialised)."""

    def __init__(self, root: str):
        self.root = root
        self._lock = threading.Lock()
        self._known: dict[str, set[int]] | None = None
        self._cleanup_temporary_files()

    def _cleanup_temporary_files(self) -> None:
        """Remove temporary files left by writers that died (their pid is gone)."""
        for path in glob.glob(os.path.join(self.root, "**", ".part-*.tmp"), recursive=True):
            try:
                pid = int(path.rsplit(".", 2)[-2])
            except ValueError:
                continue
            if pid != os.getpid() and not _pid_alive(pid):
                try:
                    os.remove(path)
                except OSError:
                    pass

    def _known_ids(self) -> dict[str, set[int]]:
        if self._known is None:
            import pyarrow.parquet as pq

            known = {}
            for table in DICTIONARY_TABLES:
                ids: set[int] = set()
                for path in glob.glob(os.path.join(self.root, table, "*.parquet")):
                    try:
                        ids.update(pq.read_table(path, columns=["id"]).column("id").to_pylist())
                    except Exception:  # an unreadable file only costs us rewriting rows
                        continue
                known[table] = ids
            self._known = known
        return self._known

    def append(self, items: Sequence[tuple]) -> list[int]:
        """Write ``(profile, labels, kind, delta, time_nanos)`` tuples; returns their ids.

        Each profile is committed by its ``profiles`` row, written after all it refers to.
        """
        import pyarrow as pa

        if not items:
            return []
        schemas = arrow_schemas()
        now_us = int(_time.time() * 1_000_000)
        parts = []
        ids = []
        for prof, labels, kind, delta, time_nanos in items:
            pid = random.getrandbits(63) or 1
            if time_nanos is None and not prof.time_nanos:
                time_nanos = _time.time_ns()
            parts.append(decompose(prof, profile_id=pid, labels=dict(labels or {}), kind=kind, delta=delta,
                                   time_nanos=time_nanos, written_at_us=now_us))
            ids.append(pid)
        with self._lock:
            known = self._known_ids()
            # 1. dictionary rows nobody has written yet
            for table in DICTIONARY_TABLES:
                rows: dict[int, tuple] = {}
                for part in parts:
                    for key, row in getattr(part, table).items():
                        if key not in known[table]:
                            rows[key] = row
                if not rows:
                    continue
                _write_parquet_atomically(_dictionary_table(table, rows, schemas[table], pa),
                                          os.path.join(self.root, table))
                if len(known[table]) + len(rows) > MAX_REMEMBERED_IDS:
                    known[table].clear()
                known[table].update(rows)
            # 2. samples, 3. profiles (the commit), each split by time partition
            by_partition: dict[tuple, list] = {}
            for part in parts:
                by_partition.setdefault(_partition(part.profile["time"]), []).append(part)
            for (date, hour), group in by_partition.items():
                _write_parquet_atomically(_samples_table(group, schemas["samples"], pa),
                                          os.path.join(self.root, "samples", f"date={date}", f"hour={hour}"))
            for (date, hour), group in by_partition.items():
                _write_parquet_atomically(_profiles_table(group, schemas["profiles"], pa),
                                          os.path.join(self.root, "profiles", f"date={date}", f"hour={hour}"))
        return ids


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _dictionary_table(table: str, rows: dict, schema, pa):
    keys = list(rows)
    vals = list(rows.values())
    if table == "strings":
        cols = {"id": keys, "value": vals}
    elif table == "functions":
        cols = {"id": keys, **{name: [r[i] for r in vals] for i, name in
                               enumerate(["name_id", "system_name_id", "filename_id", "start_line"])}}
    elif table == "mappings":
        names = ["memory_start", "memory_limit", "file_offset", "filename_id", "build_id_id", "has_functions",
                 "has_filenames", "has_line_numbers", "has_inline_frames"]
        cols = {"id": keys, **{name: [r[i] for r in vals] for i, name in enumerate(names)}}
    elif table == "locations":
        cols = {"id": keys, "mapping_id": [r[0] for r in vals], "address": [r[1] for r in vals],
                "is_folded": [r[2] for r in vals],
                "lines": [[{"function_id": f, "line": ln, "column": c} for f, ln, c in r[3]] for r in vals]}
    elif table == "stacks":
        cols = {"id": keys, "location_ids": [r[0] for r in vals], "function_ids": [r[1] for r in vals]}
    else:  # pragma: no cover - the tables are fixed
        raise AssertionError(table)
    return pa.table(cols, schema=schema)


def _samples_table(parts, schema, pa):
    # values: one list per sample, built from the flat (n x k) arrays without a Python loop.
    flat = np.concatenate([p.samples["values"].ravel() for p in parts]) if parts else np.zeros(0, np.int64)
    lengths = np.concatenate([np.full(len(p.samples["stack_id"]), p.samples["values"].shape[1], dtype=np.int64)
                              for p in parts])
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    values = pa.ListArray.from_arrays(pa.array(offsets, type=pa.int32()), pa.array(flat, type=pa.int64()))
    return pa.table({
        "profile_id": np.concatenate([p.samples["profile_id"] for p in parts]),
        "time": pa.array(np.concatenate([p.samples["time"] for p in parts]), type=schema.field("time").type),
        "sample": np.concatenate([p.samples["sample"] for p in parts]),
        "stack_id": np.concatenate([p.samples["stack_id"] for p in parts]),
        "values": values,
        "labels": [labels for p in parts for labels in p.samples["labels"]],
    }, schema=schema)


def _profiles_table(parts, schema, pa):
    rows = [p.profile for p in parts]
    cols = {name: [r[name] for r in rows] for name in schema.names}
    return pa.table(cols, schema=schema)


def read_profile(source, *, seconds: int | None = None):
    """A Profile from a Profile, bytes, a file path or a URL (fetched as go tool pprof does),
    with every frame kept (no drop_frames), so the store holds exactly what was given."""
    from ..codec import decode
    from ..errors import FetchError
    from ..fetch import fetch, is_url
    from ..model import Profile

    if isinstance(source, Profile):
        return source
    if isinstance(source, (bytes, bytearray, memoryview)):
        return decode(bytes(source), source="profile bytes")
    if isinstance(source, os.PathLike):
        source = os.fspath(source)
    if not isinstance(source, str):
        raise OptionError(f"a profile source must be a Profile, bytes, a path or a URL, got {type(source).__name__}")
    if is_url(source) and not os.path.exists(source):
        return decode(fetch(source, seconds=seconds), source=source)
    try:
        with builtins.open(source, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise FetchError(f"cannot read {source}: {exc.strerror or exc}") from None
    return decode(data, source=source)


# ------------------------------------------------------------------ the store

def open(path, *, create: bool = False) -> "Store":  # noqa: A001 - the issue names it store.open
    """The profile store at ``path``; ``create=True`` makes it if it is missing.

    >>> store = pyprofnb.store.open("profiles/", create=True)
    """
    return Store(path, create=create)


class Store:
    """Profiles as Parquet tables, queried with DuckDB (see the module docstring)."""

    def __init__(self, path, *, create: bool = False):
        self.path = os.path.abspath(os.fspath(path))
        marker = os.path.join(self.path, MARKER)
        if not os.path.exists(marker):
            if not create:
                what = "does not exist" if not os.path.exists(self.path) else f"has no {MARKER}"
                raise StoreError(f"{path} is not a pyprofnb profile store ({what}); "
                                 "use pyprofnb.store.open(path, create=True) to make one")
            self._create()
        with builtins.open(marker) as fh:
            meta = json.load(fh)
        if meta.get("schema_version") != SCHEMA_VERSION:
            raise StoreError(f"{path}: store schema version {meta.get('schema_version')!r}, "
                             f"expected {SCHEMA_VERSION}")
        self._writer: Writer | None = None
        self._con = None
        self._con_lock = threading.RLock()

    def __repr__(self) -> str:
        return f"<pyprofnb Store {self.path}>"

    def _create(self) -> None:
        """A new store: one empty file per table (so every engine knows the schema at once),
        then the marker."""
        import pyarrow as pa

        os.makedirs(self.path, exist_ok=True)
        for table, schema in arrow_schemas().items():
            directory = os.path.join(self.path, table)
            if table in FACT_TABLES:
                directory = os.path.join(directory, f"date={_EMPTY_PARTITION[0]}", f"hour={_EMPTY_PARTITION[1]}")
            if not glob.glob(os.path.join(directory, "*.parquet")):
                _write_parquet_atomically(schema.empty_table(), directory)
        del pa
        tmp = os.path.join(self.path, f".{MARKER}.tmp")
        with builtins.open(tmp, "w") as fh:
            json.dump({"format": "pyprofnb profile store", "schema_version": SCHEMA_VERSION,
                       "tables": list(TABLES)}, fh)
        os.replace(tmp, os.path.join(self.path, MARKER))

    # ------------------------------------------------------------ writing

    @property
    def writer(self) -> Writer:
        if self._writer is None:
            self._writer = Writer(self.path)
        return self._writer

    def add(self, source, *, labels: Mapping[str, str] | None = None, kind: str | None = None,
            delta: bool = False, time=None, seconds: int | None = None) -> int:
        """Store one profile (a Profile, a path, bytes or a URL, Go's included) with series
        ``labels``; returns its id. Frames are kept as they are (no ``drop_frames``), so
        `profile` gives back the same profile."""
        prof = read_profile(source, seconds=seconds)
        time_ns = None if time is None else _to_us(time) * 1000
        return self.writer.append([(prof, dict(labels or {}), kind, delta, time_ns)])[0]

    def append(self, items: Iterable) -> list[int]:
        """Store several profiles at once: ``(profile, labels)`` or
        ``(profile, labels, kind, delta, time_nanos)`` tuples."""
        full = []
        for item in items:
            item = tuple(item)
            if len(item) == 2:
                item = item + (None, False, None)
            if len(item) != 5:
                raise OptionError("append takes (profile, labels) or (profile, labels, kind, delta, time_nanos)")
            full.append(item)
        return self.writer.append(full)

    # ------------------------------------------------------------ DuckDB

    @property
    def duckdb(self):
        """The DuckDB connection, with a view per table (``strings``, ``functions``, ...,
        ``samples``, ``profiles``) plus ``frames`` (stack_id, depth, function name) for SQL."""
        with self._con_lock:
            if self._con is None:
                import duckdb

                con = duckdb.connect(":memory:")
                con.execute("SET parquet_metadata_cache = true")  # files are immutable once renamed in
                for table in DICTIONARY_TABLES:
                    src = f"read_parquet('{self._glob(table)}')"
                    con.execute(f"CREATE VIEW {table} AS SELECT DISTINCT ON (id) * FROM {src}")
                for table in FACT_TABLES:
                    con.execute(f"CREATE VIEW {table}_all AS SELECT * FROM read_parquet('{self._glob(table)}', "
                                "hive_partitioning = true, hive_types = {'date': DATE, 'hour': INTEGER})")
                # Samples count once their profile is committed (see the module docstring).
                con.execute("CREATE VIEW profiles AS SELECT * FROM profiles_all")
                con.execute("CREATE VIEW samples AS SELECT s.* FROM samples_all s SEMI JOIN profiles p "
                            "ON s.profile_id = p.profile_id")
                con.execute("""CREATE VIEW frames AS
                    SELECT st.id AS stack_id, f.depth, f.function_id, str.value AS name
                    FROM stacks st,
                         LATERAL (SELECT unnest(st.function_ids) AS function_id,
                                         generate_subscripts(st.function_ids, 1) - 1 AS depth) f
                    JOIN functions fn ON fn.id = f.function_id
                    JOIN strings str ON str.id = fn.name_id""")
                self._con = con
            return self._con

    def _glob(self, table: str) -> str:
        if table in FACT_TABLES:
            return os.path.join(self.path, table, "*", "*", "*.parquet").replace("'", "''")
        return os.path.join(self.path, table, "*.parquet").replace("'", "''")

    def sql(self, query: str, params: Sequence | None = None):
        """Run SQL over the store's views and return a DataFrame.

        >>> store.sql("SELECT labels['job'] AS job, count(*) FROM profiles GROUP BY ALL")
        """
        with self._con_lock:
            con = self.duckdb.cursor()
            try:
                return con.execute(query, params or []).df()
            finally:
                con.close()

    def _arrow(self, query: str, params: Sequence | None = None):
        with self._con_lock:
            con = self.duckdb.cursor()
            try:
                return con.sql(query, params=list(params or [])).to_arrow_table()
            finally:
                con.close()

    # ------------------------------------------------------------ reading profiles

    def profiles(self, kind: str | None = None, start=None, end=None, **labels):
        """One row per stored profile matching the selection, oldest first."""
        where, params = _selection(kind, start, end, labels)
        return self.sql(f"SELECT * EXCLUDE (location_ids, function_ids, mapping_ids) FROM profiles p "
                        f"WHERE {where} ORDER BY time_nanos, profile_id", params)

    def profile(self, profile_id: int):
        """The stored profile as it was added. "Identical" means: the Profile read back
        encodes (``to_bytes()``) to the same bytes as the Profile that was added; tables keep
        their order, labels, mappings, comments and times come back unchanged. For pprof
        written by pyprofnb (our servers) that is the original bytes themselves; other writers
        (Go) order their string tables differently, so their files come back as the same
        Profile rather than the same bytes."""
        rows = self._arrow("SELECT * FROM profiles WHERE profile_id = ?", [int(profile_id)]).to_pylist()
        if not rows:
            raise StoreError(f"{self.path}: no profile with id {profile_id}")
        row = rows[0]
        samples = self._arrow(
            "SELECT stack_id, values, labels FROM samples_all WHERE profile_id = ? AND date = ? AND hour = ? "
            "ORDER BY sample", [int(profile_id), row["date"], row["hour"]])
        k = len(row["sample_types"])
        values = _list_column_2d(samples.column("values"), k)
        return assemble(row, {"stack_id": samples.column("stack_id").to_numpy(), "values": values,
                              "labels": samples.column("labels").to_pylist()},
                        self._tables_for(stack_ids=samples.column("stack_id").to_numpy(),
                                         location_ids=row["location_ids"], function_ids=row["function_ids"],
                                         mapping_ids=row["mapping_ids"]))

    def _tables_for(self, *, stack_ids, location_ids, function_ids, mapping_ids) -> dict:
        """The dictionary rows a profile needs, keyed by id."""
        out = {}
        stack_ids = [int(s) for s in np.unique(np.asarray(stack_ids, dtype=np.int64))]
        out["stacks"] = self._rows("stacks", stack_ids)
        out["locations"] = self._rows("locations", location_ids)
        out["functions"] = self._rows("functions", function_ids)
        out["mappings"] = self._rows("mappings", mapping_ids)
        string_ids = set()
        for f in out["functions"].values():
            string_ids.update((f["name_id"], f["system_name_id"], f["filename_id"]))
        for m in out["mappings"].values():
            string_ids.update((m["filename_id"], m["build_id_id"]))
        out["strings"] = {r["id"]: r["value"] for r in self._rows("strings", sorted(string_ids)).values()}
        missing = [t for t, ids in (("stacks", stack_ids), ("locations", location_ids), ("functions", function_ids),
                                    ("mappings", mapping_ids)) if len(out[t]) != len(set(ids))]
        if missing:
            raise StoreError(f"{self.path}: rows missing from {', '.join(missing)}: the store is damaged")
        return out

    def _rows(self, table: str, ids) -> dict:
        ids = [int(i) for i in ids]
        if not ids:
            return {}
        rows = self._arrow(f"SELECT * FROM {table} WHERE id IN (SELECT unnest(?::BIGINT[]))", [ids]).to_pylist()
        return {r["id"]: r for r in rows}

    # ------------------------------------------------------------ queries

    def _sample_type(self, kind: str, sample_type, where: str, params: list) -> str:
        """Resolve ``sample_type`` (None: the profiles' default) as the reports do."""
        rows = self.sql(f"SELECT DISTINCT sample_types, default_sample_type FROM profiles p WHERE {where}", params)
        if rows.empty:
            raise StoreError(f"{self.path}: no stored {kind!r} profile matches the selection")
        return resolve_sample_type([list(t) for t in rows["sample_types"]], rows["default_sample_type"].iloc[0],
                                   sample_type)

    def top(self, kind: str = "profile", sample_type=None, start=None, end=None, n: int | None = 10, **labels):
        """Top functions by flat value over the selected profiles, like ``go tool pprof -top``
        on their merge (function granularity); columns flat, flat%, cum, cum%."""
        where, params = _selection(kind, start, end, labels)
        if isinstance(sample_type, str) and sample_type and not sample_type.isdigit():
            st = sample_type  # a name: no resolving query (one query fewer per call)
        else:
            st = self._sample_type(kind, sample_type, where, params)
        frame = self.sql(TOP_SQL.format(where=where, st=_literal(st), limit=_limit(n)), params + params)
        if frame.empty:
            total = self._total(st, where, params)
            if not total and st == sample_type:
                st = self._sample_type(kind, sample_type, where, params)  # says what went wrong
        else:
            total = int(frame["total"].iloc[0])
        return _finish_top(frame.drop(columns="total"), total, st)

    def _total(self, sample_type: str, where: str, params: list) -> int:
        got = self.sql(f"SELECT sum(abs(totals[list_position(sample_types, ?)]))::BIGINT AS t FROM profiles p "
                       f"WHERE {where}", [sample_type] + params)
        import pandas as pd

        value = got["t"].iloc[0]
        return 0 if pd.isna(value) else int(value)

    def diff(self, before: tuple, after: tuple, kind: str = "profile", sample_type=None, n: int | None = 10,
             **labels):
        """Per function, how flat and cum changed from the ``before`` window to the ``after``
        window (each a ``(start, end)`` pair): the numbers of ``-diff_base before after``."""
        where_a, params_a = _selection(kind, before[0], before[1], labels)
        where_b, params_b = _selection(kind, after[0], after[1], labels)
        st = self._sample_type(kind, sample_type, f"({where_a}) OR ({where_b})", params_a + params_b)
        frame = self.sql(DIFF_SQL.format(where_a=where_a, where_b=where_b, st=_literal(st), limit=_limit(n)),
                         params_a + params_b)
        frame = frame.set_index("name")
        frame.attrs.update(sample_type=st, base_total=self._total(st, where_a, params_a),
                           total=self._total(st, where_b, params_b))
        return frame

    def totals(self, by: str = "job", kind: str = "profile", sample_type=None, every=None, start=None, end=None,
               rate: bool = False, **labels):
        """The selected profiles' totals over time, one column per value of label ``by``
        (rows: profile times, or buckets of ``every`` seconds / a pandas offset like "10s").

        ``rate=True`` gives each profile's total per second of its duration (for CPU
        profiles: cores busy); with ``every``, each instance's rate is its mean in the bucket
        (carried forward over a bucket none of its profiles started in), summed over instances.

        >>> store.totals(by="job", every="10s", rate=True)      # cores per service
        """
        import pandas as pd

        where, params = _selection(kind, start, end, labels)
        st = self._sample_type(kind, sample_type, where, params)
        frame = self.sql(
            f"SELECT p.time, coalesce(p.labels[?], '') AS by_value, coalesce(p.labels['instance'], '') AS instance, "
            f"p.duration_nanos, totals[list_position(sample_types, ?)] AS value FROM profiles p WHERE {where} "
            f"ORDER BY p.time", [by, st] + params)
        if frame.empty:
            return pd.DataFrame()
        frame["time"] = pd.to_datetime(frame["time"], utc=True)
        if every is not None:
            freq = f"{every}s" if isinstance(every, (int, float)) else every
            frame["time"] = frame["time"].dt.floor(freq)
        if rate:
            if (frame["duration_nanos"] <= 0).any():
                raise OptionError("rate=True needs profiles with a duration (delta profiles such as CPU)")
            frame["value"] = frame["value"] / (frame["duration_nanos"] / 1e9)
            per_instance = frame.pivot_table(index="time", columns=["by_value", "instance"], values="value",
                                             aggfunc="mean")
            if every is not None:
                per_instance = per_instance.asfreq(freq).ffill()
            table = per_instance.T.groupby(level="by_value").sum(min_count=1).T
        else:
            table = frame.pivot_table(index="time", columns="by_value", values="value", aggfunc="sum", fill_value=0)
        table.columns.name = by
        table.attrs.update(sample_type=st)
        return table

    def merged(self, kind: str = "profile", start=None, end=None, **labels):
        """The merge of every selected profile, as one Profile for any report.

        Samples are summed in DuckDB per (stack, sample labels); the result equals
        ``pyprofnb.merge`` of the same profiles.
        """
        where, params = _selection(kind, start, end, labels)
        meta = self.sql(f"SELECT sample_types, sample_units, default_sample_type, period_type, period_unit, period, "
                        f"own_time_nanos, duration_nanos, comments, drop_frames, keep_frames, doc_url FROM profiles p "
                        f"WHERE {where} ORDER BY time_nanos, profile_id", params)
        if meta.empty:
            raise StoreError(f"{self.path}: no stored {kind!r} profile matches the selection")
        type_lists = [list(t) for t in meta["sample_types"]]
        common = [t for t in type_lists[0] if all(t in n for n in type_lists)]
        if not common:
            raise StoreError("the selected profiles have no sample type in common")
        units = dict(zip(type_lists[0], list(meta["sample_units"].iloc[0])))
        sums = ", ".join(f"sum(s.values[list_position(p.sample_types, ${i + 1})])::BIGINT" for i in range(len(common)))
        nparams = len(common)
        where_n = _renumber(where, nparams)
        table = self._arrow(
            f"SELECT s.stack_id, s.labels, [{sums}] AS values, min(p.time_nanos) AS first_time, "
            f"min(s.sample) AS first_sample FROM samples s JOIN profiles p ON s.profile_id = p.profile_id "
            f"WHERE {where_n} GROUP BY s.stack_id, s.labels ORDER BY first_time, first_sample, s.stack_id",
            common + params)
        stack_ids = table.column("stack_id").to_numpy()
        values = _list_column_2d(table.column("values"), len(common))
        # Locations, functions and mappings in first-appearance order.
        stacks = self._rows("stacks", np.unique(stack_ids))
        loc_order = list(dict.fromkeys(lid for s in stack_ids for lid in stacks[int(s)]["location_ids"]))
        locs = self._rows("locations", loc_order)
        func_order = list(dict.fromkeys(line["function_id"] for lid in loc_order for line in locs[lid]["lines"]))
        map_order = list(dict.fromkeys(locs[lid]["mapping_id"] for lid in loc_order if locs[lid]["mapping_id"]))
        tables = self._tables_for(stack_ids=stack_ids, location_ids=loc_order, function_ids=func_order,
                                  mapping_ids=map_order)
        first = meta.iloc[0]
        defaults = [d for d in meta["default_sample_type"] if d]
        row = dict(
            sample_types=common, sample_units=[units[t] for t in common],
            default_sample_type=defaults[0] if defaults and defaults[0] in common else "",
            period_type=first["period_type"], period_unit=first["period_unit"],
            period=int(meta["period"].max()), own_time_nanos=int(min((t for t in meta["own_time_nanos"] if t), default=0)),
            duration_nanos=int(meta["duration_nanos"].sum()),
            comments=list(dict.fromkeys(c for cs in meta["comments"] for c in (cs if cs is not None else ()))),
            drop_frames=first["drop_frames"], keep_frames=first["keep_frames"],
            doc_url=next((d for d in meta["doc_url"] if d), ""),
            mapping_ids=map_order, location_ids=loc_order, function_ids=func_order,
        )
        prof = assemble(row, {"stack_id": stack_ids, "values": values, "labels": table.column("labels").to_pylist()},
                        tables)
        return prof.compact()


def resolve_sample_type(type_lists: list[list[str]], default: str, sample_type) -> str:
    """The sample type a query sums, by the reports' rule (a name, an index, the legacy
    ``space``/``objects`` for ``inuse_*``, or None: the default, else the last type); it must
    be in every selected profile."""
    names = type_lists[0]
    common = [t for t in names if all(t in n for n in type_lists)]
    if sample_type is None or sample_type == "":
        name = default if default in names else names[-1]
    elif isinstance(sample_type, (int, np.integer)) or (isinstance(sample_type, str) and sample_type.isdigit()):
        index = int(sample_type)
        if not 0 <= index < len(names):
            raise OptionError(f"sample_type {index} out of range [0..{len(names) - 1}]")
        name = names[index]
    elif sample_type in names:
        name = sample_type
    elif sample_type.removeprefix("inuse_") in names:
        name = sample_type.removeprefix("inuse_")
    else:
        raise OptionError(f"sample_type {sample_type!r} must be one of: {', '.join(names)}")
    if name not in common:
        raise OptionError(f"sample type {name!r} is not in every selected profile; common: {', '.join(common)}")
    return name


def _list_column_2d(column, k: int) -> np.ndarray:
    """A list<int64> Arrow column of equal-length lists as an (n, k) array."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks else pa.array([], type=pa.list_(pa.int64()))
    n = len(column)
    flat = pc.list_flatten(column).to_numpy(zero_copy_only=False).astype(np.int64)
    if len(flat) != n * k:
        raise StoreError(f"stored samples have values of unequal length (expected {k} each)")
    return flat.reshape(n, k)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _limit(n) -> str:
    if n is None:
        return ""
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise OptionError(f"n must be a positive integer or None, got {n!r}")
    return f"LIMIT {int(n)}"


def _renumber(where: str, shift: int) -> str:
    """Selection SQL with ``?`` turned into ``$k`` numbered after ``shift`` parameters."""
    out, k = [], shift
    for ch in where:
        if ch == "?":
            k += 1
            out.append(f"${k}")
        else:
            out.append(ch)
    return "".join(out)


def _selection(kind, start, end, labels: Mapping) -> tuple[str, list]:
    """The WHERE clause (over alias ``p`` of profiles) for a kind, a time window
    [start, end) and label equalities; label values may be lists (any of them)."""
    clauses, params = [], []
    if kind is not None:
        clauses.append("p.kind = ?")
        params.append(kind)
    start_us, end_us = _to_us(start), _to_us(end)
    if start_us is not None:
        clauses.append("p.time_nanos >= ?")
        params.append(start_us * 1000)
    if end_us is not None:
        clauses.append("p.time_nanos < ?")
        params.append(end_us * 1000)
    for key, value in labels.items():
        values = list(value) if isinstance(value, (list, tuple, set)) else [value]
        marks = ", ".join("?" for _ in values)
        clauses.append(f"p.labels[?] IN ({marks})")
        params.append(str(key))
        params.extend(str(v) for v in values)
    return (" AND ".join(clauses) or "true"), params


# Per function name: flat is the value of samples whose leaf frame is the function, cum the
# value of samples with the function anywhere in the stack (once per stack), as pprof's top
# counts at function granularity. Samples are summed per stack first, so the stack expansion
# touches each distinct stack once.
_PER_STACK = """
    SELECT s.stack_id, sum(s.values[list_position(p.sample_types, {st})]) AS v
    FROM samples_all s JOIN profiles p ON s.profile_id = p.profile_id
    WHERE {where} AND s.date = p.date AND s.hour = p.hour
      AND s.values[list_position(p.sample_types, {st})] != 0  -- pprof skips zero samples: no node
    GROUP BY s.stack_id
"""

_FUNC_VALUES = """
    SELECT f.name,
           sum(CASE WHEN f.first THEN ps.v ELSE 0 END)::BIGINT AS flat,
           sum(ps.v)::BIGINT AS cum
    FROM (SELECT stack_id, name, bool_or(depth = 0) AS first FROM frames
          WHERE stack_id IN (SELECT stack_id FROM {ps}) GROUP BY stack_id, name) f
    JOIN {ps} ps USING (stack_id)
    GROUP BY f.name
"""

TOP_SQL = ("WITH per_stack AS (" + _PER_STACK + "), funcs AS (" + _FUNC_VALUES.format(ps="per_stack") + "),"
           " tot AS (SELECT sum(abs(p.totals[list_position(p.sample_types, {st})]))::BIGINT AS total"
           " FROM profiles p WHERE {where})"
           " SELECT name, flat, cum, (SELECT total FROM tot) AS total FROM funcs ORDER BY abs(flat) DESC, name {limit}")

DIFF_SQL = ("WITH ps_a AS (" + _PER_STACK.replace("{where}", "{where_a}") + "), "
            "ps_b AS (" + _PER_STACK.replace("{where}", "{where_b}") + "), "
            "fa AS (" + _FUNC_VALUES.format(ps="ps_a") + "), fb AS (" + _FUNC_VALUES.format(ps="ps_b") + ")"
            " SELECT name, coalesce(fa.flat, 0) AS flat_before, coalesce(fb.flat, 0) AS flat_after,"
            " coalesce(fb.flat, 0) - coalesce(fa.flat, 0) AS flat_delta,"
            " coalesce(fa.cum, 0) AS cum_before, coalesce(fb.cum, 0) AS cum_after,"
            " coalesce(fb.cum, 0) - coalesce(fa.cum, 0) AS cum_delta"
            " FROM fa FULL OUTER JOIN fb USING (name)"
            " ORDER BY abs(flat_delta) DESC, abs(cum_delta) DESC, name {limit}")


def _finish_top(frame, total: int, sample_type: str):
    frame = frame.set_index("name")
    with np.errstate(divide="ignore", invalid="ignore"):
        frame["flat%"] = frame["flat"].abs() / total * 100 if total else 0.0
        frame["cum%"] = frame["cum"].abs() / total * 100 if total else 0.0
    frame = frame[["flat", "flat%", "cum", "cum%"]]
    frame.attrs.update(total=total, sample_type=sample_type)
    return frame
