"""The store's tables: a profile taken apart into dictionary tables and a fact table of
samples, and put back together.

Layout of a store directory (every file Parquet, written by pyarrow)::

    STORE/
      strings/part-*.parquet       id, value
      functions/part-*.parquet     id, name_id, system_name_id, filename_id, start_line
      mappings/part-*.parquet      id, memory_start, memory_limit, file_offset, filename_id,
                                   build_id_id, has_functions, has_filenames,
                                   has_line_numbers, has_inline_frames
      locations/part-*.parquet     id, mapping_id (0: none), address, is_folded,
                                   lines: list<struct<function_id, line, column>> (callee first)
      stacks/part-*.parquet        id, location_ids: list (leaf first),
                                   function_ids: list (one per frame, inline lines expanded,
                                   leaf first; derived from locations, kept for queries)
      profiles/date=YYYY-MM-DD/hour=HH/part-*.parquet
                                   one row per profile: profile_id, time, time_nanos (the
                                   store's time: the profile's, else when it was added),
                                   own_time_nanos (the profile's own, 0 if unset), duration_nanos, kind, profile_type, labels (map: job,
                                   instance, and any others), sample_types, sample_units,
                                   default_sample_type, period_type, period_unit, period,
                                   comments, drop_frames, keep_frames, doc_url, mapping_ids,
                                   location_ids, function_ids (the profile's own table order),
                                   n_samples, totals (per sample type), written_at
      samples/date=YYYY-MM-DD/hour=HH/part-*.parquet
                                   the fact table, one row per pprof sample: profile_id, time,
                                   sample (its index in the profile), stack_id, values (one per
                                   sample type, in the profile's order), labels:
                                   list<struct<key, str, num, unit>> (the sample's pprof labels)

Dictionary ids are content hashes (the first 8 bytes of BLAKE2b of what the row holds, as a
signed 64-bit integer), so writers never coordinate: the same function gets the same id in
every batch and every process, and a row written twice is harmless (readers take one).
Unsigned pprof fields (addresses, mapping bounds) are stored bit for bit as int64, since Spark
has no unsigned types; ``time`` is microseconds UTC for the same reason (``time_nanos`` keeps
the exact value).

Partitions are Hive style (``date=``, ``hour=``) on the profile's time, so DuckDB and Spark
prune by time without reading the files. See `pyprofnb.fleet.store` for how appends stay
atomic.
"""
from __future__ import annotations

import hashlib
import struct

import numpy as np

SCHEMA_VERSION = 1
DICTIONARY_TABLES = ("strings", "functions", "mappings", "locations", "stacks")
FACT_TABLES = ("samples", "profiles")  # time-partitioned; `profiles` is written last (the commit)
TABLES = DICTIONARY_TABLES + FACT_TABLES


def arrow_schemas() -> dict:
    """Each table's pyarrow schema (without the partition columns date and hour)."""
    import pyarrow as pa

    i64 = pa.int64()
    line = pa.struct([("function_id", i64), ("line", i64), ("column", i64)])
    label = pa.struct([("key", pa.string()), ("str", pa.string()), ("num", i64), ("unit", pa.string())])
    ts = pa.timestamp("us", tz="UTC")
    return {
        "strings": pa.schema([("id", i64), ("value", pa.string())]),
        "functions": pa.schema([("id", i64), ("name_id", i64), ("system_name_id", i64),
                                ("filename_id", i64), ("start_line", i64)]),
        "mappings": pa.schema([("id", i64), ("memory_start", i64), ("memory_limit", i64),
                               ("file_offset", i64), ("filename_id", i64), ("build_id_id", i64),
                               ("has_functions", pa.bool_()), ("has_filenames", pa.bool_()),
                               ("has_line_numbers", pa.bool_()), ("has_inline_frames", pa.bool_())]),
        "locations": pa.schema([("id", i64), ("mapping_id", i64), ("address", i64),
                                ("is_folded", pa.bool_()), ("lines", pa.list_(line))]),
        "stacks": pa.schema([("id", i64), ("location_ids", pa.list_(i64)), ("function_ids", pa.list_(i64))]),
        "profiles": pa.schema([
            ("profile_id", i64), ("time", ts), ("time_nanos", i64), ("own_time_nanos", i64), ("duration_nanos", i64),
            ("kind", pa.string()), ("profile_type", pa.string()),
            ("labels", pa.map_(pa.string(), pa.string())),
            ("sample_types", pa.list_(pa.string())), ("sample_units", pa.list_(pa.string())),
            ("default_sample_type", pa.string()), ("period_type", pa.string()), ("period_unit", pa.string()),
            ("period", i64), ("comments", pa.list_(pa.string())), ("drop_frames", pa.string()),
            ("keep_frames", pa.string()), ("doc_url", pa.string()),
            ("mapping_ids", pa.list_(i64)), ("location_ids", pa.list_(i64)), ("function_ids", pa.list_(i64)),
            ("n_samples", i64), ("totals", pa.list_(i64)), ("written_at", ts),
        ]),
        "samples": pa.schema([("profile_id", i64), ("time", ts), ("sample", pa.int32()), ("stack_id", i64),
                              ("values", pa.list_(i64)), ("labels", pa.list_(label))]),
    }


# ------------------------------------------------------------------ content ids

def content_id(*parts) -> int:
    """A signed 64-bit id of a row's content (strings, ints and int arrays)."""
    h = hashlib.blake2b(digest_size=8)
    for part in parts:
        if isinstance(part, str):
            data = part.encode("utf-8", "surrogatepass")
            h.update(b"s" + struct.pack("<q", len(data)) + data)
        elif isinstance(part, np.ndarray):
            data = np.ascontiguousarray(part, dtype=np.int64).tobytes()
            h.update(b"a" + struct.pack("<q", len(data)) + data)
        elif isinstance(part, bool):
            h.update(b"b" + (b"\1" if part else b"\0"))
        else:
            h.update(b"i" + struct.pack("<q", _signed(int(part))))
    value = struct.unpack("<q", h.digest())[0]
    return value or 1  # 0 means "none" in the tables


def _objects(values) -> np.ndarray:
    """An object array of strings (np.array would pick a fixed-width string dtype)."""
    values = list(values)
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _signed(value: int) -> int:
    """A uint64 seen as int64 (same bits)."""
    value &= 0xFFFFFFFFFFFFFFFF
    return value - (1 << 64) if value >= 1 << 63 else value


def _unsigned(value: int) -> int:
    return value & 0xFFFFFFFFFFFFFFFF


def profile_kind(prof) -> str:
    """The endpoint a profile would come from: profile (CPU), heap, allocs, goroutine, or the
    first sample type's name for anything else."""
    types = [t.type for t in prof.sample_types]
    if prof.period_type is not None and prof.period_type.type == "cpu" or "cpu" in types:
        return "profile"
    if "inuse_space" in types:
        return "heap"
    if "alloc_space" in types:
        return "allocs"
    if "goroutine" in types:
        return "goroutine"
    return types[0] if types else "empty"


_PARCA_NAMES = {"profile": "process_cpu", "heap": "memory", "allocs": "memory", "goroutine": "goroutine"}


def profile_type_id(prof, kind: str, delta: bool) -> str:
    """Parca's profile type id, ``name:sample_type:sample_unit:period_type:period_unit[:delta]``,
    for the profile's default (last) sample type."""
    st = prof.sample_types[prof.sample_type_index(None)] if prof.sample_types else None
    pt = prof.period_type
    parts = [_PARCA_NAMES.get(kind, kind), st.type if st else "", st.unit if st else "",
             pt.type if pt else "", pt.unit if pt else ""]
    return ":".join(parts) + (":delta" if delta else "")


# ------------------------------------------------------------------ Profile -> rows

# Content ids already computed in this process, by content: a scraper sees the same functions,
# locations and stacks in profile after profile, so hashing each once saves most of the work.
# Bounded: a table past the limit is cleared and refilled.
_MEMO_LIMIT = 200_000
_memo: dict[str, dict] = {"s": {}, "f": {}, "l": {}, "k": {}, "kf": {}}


def _memoized(table: str, key, compute) -> int:
    memo = _memo[table]
    value = memo.get(key)
    if value is None:
        if len(memo) >= _MEMO_LIMIT:
            memo.clear()
        value = memo[key] = compute()
    return value


class Decomposed:
    """One profile's rows for every table (plain Python lists and NumPy columns)."""

    def __init__(self):
        self.strings: dict[int, str] = {}
        self.functions: dict[int, tuple] = {}
        self.mappings: dict[int, tuple] = {}
        self.locations: dict[int, tuple] = {}
        self.stacks: dict[int, tuple] = {}
        self.profile: dict = {}
        self.samples: dict = {}

    def string(self, value: str) -> int:
        sid = _memoized("s", value, lambda: content_id(value))
        if sid not in self.strings:
            self.strings[sid] = value
        return sid


def decompose(prof, *, profile_id: int, labels: dict[str, str], kind: str | None = None,
              delta: bool = False, time_nanos: int | None = None, written_at_us: int = 0) -> Decomposed:
    """Take a Profile apart into the store's rows."""
    out = Decomposed()
    kind = kind or profile_kind(prof)
    func_ids = np.empty(len(prof.func_id), dtype=np.int64)
    for i in range(len(prof.func_id)):
        row = (out.string(prof.func_name[i] or ""), out.string(prof.func_system_name[i] or ""),
               out.string(prof.func_filename[i] or ""), int(prof.func_start_line[i]))
        fid = _memoized("f", row, lambda: content_id("f", *row))
        out.functions.setdefault(fid, row)
        func_ids[i] = fid
    map_ids = np.empty(len(prof.mappings), dtype=np.int64)
    for i, m in enumerate(prof.mappings):
        row = (_signed(m.memory_start), _signed(m.memory_limit), _signed(m.file_offset),
               out.string(m.filename or ""), out.string(m.build_id or ""), bool(m.has_functions),
               bool(m.has_filenames), bool(m.has_line_numbers), bool(m.has_inline_frames))
        mid = content_id("m", *row)
        out.mappings.setdefault(mid, row)
        map_ids[i] = mid
    loc_ids = np.empty(len(prof.loc_id), dtype=np.int64)
    offsets = prof.line_offsets.tolist()
    line_func = (func_ids[prof.line_func] if len(prof.line_func) else np.zeros(0, np.int64)).tolist()
    line_no, line_col = prof.line_no.tolist(), prof.line_col.tolist()
    loc_mapping, loc_address, loc_folded = prof.loc_mapping.tolist(), prof.loc_address.tolist(), prof.loc_folded.tolist()
    for i in range(len(loc_ids)):
        a, b = offsets[i], offsets[i + 1]
        lines = tuple(zip(line_func[a:b], line_no[a:b], line_col[a:b]))
        mapping = int(map_ids[loc_mapping[i]]) if loc_mapping[i] >= 0 else 0
        address = _signed(loc_address[i])
        folded = bool(loc_folded[i])
        key = (mapping, address, folded, lines)
        lid = _memoized("l", key, lambda: content_id(
            "l", mapping, address, folded, np.array([v for line in lines for v in line], dtype=np.int64)))
        if lid not in out.locations:
            out.locations[lid] = (mapping, address, folded, lines)
        loc_ids[i] = lid

    # Stacks: one id per distinct location sequence.
    n = prof.n_samples
    stack_ids = np.empty(n, dtype=np.int64)
    so = prof.stack_offsets
    seen: dict[bytes, int] = {}
    glob = loc_ids[prof.stack_locs] if len(prof.stack_locs) else np.zeros(0, np.int64)
    for i in range(n):
        seq = glob[so[i]:so[i + 1]]
        key = seq.tobytes()
        sid = seen.get(key)
        if sid is None:
            sid = _memoized("k", key, lambda: content_id("k", seq))
            seen[key] = sid
            if sid not in out.stacks:
                funcs = _memoized("kf", key, lambda: [f for lid in seq.tolist() for f, _, _ in out.locations[lid][3]])
                out.stacks[sid] = (seq.tolist(), funcs)
        stack_ids[i] = sid

    # Sample labels, grouped per sample in order.
    sample_labels: list[list] = [[] for _ in range(n)]
    for s, k, v, num, unit in zip(prof.label_sample.tolist(), prof.label_key, prof.label_str,
                                  prof.label_num.tolist(), prof.label_unit):
        sample_labels[s].append({"key": k, "str": v, "num": num, "unit": unit or ""})

    t_ns = int(time_nanos if time_nanos is not None else prof.time_nanos)
    out.profile = dict(
        profile_id=profile_id, time=t_ns // 1000, time_nanos=t_ns, own_time_nanos=int(prof.time_nanos),
        duration_nanos=int(prof.duration_nanos),
        kind=kind, profile_type=profile_type_id(prof, kind, delta), labels=list(labels.items()),
        sample_types=[t.type for t in prof.sample_types], sample_units=[t.unit for t in prof.sample_types],
        default_sample_type=prof.default_sample_type or "",
        period_type=prof.period_type.type if prof.period_type else None,
        period_unit=prof.period_type.unit if prof.period_type else None,
        period=int(prof.period), comments=list(prof.comments), drop_frames=prof.drop_frames or "",
        keep_frames=prof.keep_frames or "", doc_url=prof.doc_url or "",
        mapping_ids=map_ids.tolist(), location_ids=loc_ids.tolist(), function_ids=func_ids.tolist(),
        n_samples=n, totals=prof.values.sum(axis=0).tolist(), written_at=written_at_us,
    )
    out.samples = dict(
        profile_id=np.full(n, profile_id, dtype=np.int64), time=np.full(n, t_ns // 1000, dtype=np.int64),
        sample=np.arange(n, dtype=np.int32), stack_id=stack_ids,
        values=prof.values, labels=sample_labels,
    )
    return out


# ------------------------------------------------------------------ rows -> Profile

def assemble(profile_row: dict, samples: dict, tables: dict):
    """Rebuild a Profile from its profiles row, its samples (columns ``stack_id``,
    ``values`` as an (n, k) array, ``labels`` as lists of dicts, in sample order) and the
    dictionary rows it needs (``tables[name][id] -> row dict``).

    Locations, functions and mappings come back in the profile's own order, so the Profile
    encodes to the same bytes as the one that was stored.
    """
    from ..model import Mapping, Profile, ValueType

    strings = tables["strings"]
    mapping_ids = list(profile_row["mapping_ids"])
    mappings = []
    for i, mid in enumerate(mapping_ids):
        m = tables["mappings"][mid]
        mappings.append(Mapping(
            id=i + 1, memory_start=_unsigned(m["memory_start"]), memory_limit=_unsigned(m["memory_limit"]),
            file_offset=_unsigned(m["file_offset"]), filename=strings[m["filename_id"]],
            build_id=strings[m["build_id_id"]], has_functions=m["has_functions"], has_filenames=m["has_filenames"],
            has_line_numbers=m["has_line_numbers"], has_inline_frames=m["has_inline_frames"]))
    map_index = {mid: i for i, mid in enumerate(mapping_ids)}

    func_ids = list(profile_row["function_ids"])
    func_index = {fid: i for i, fid in enumerate(func_ids)}
    funcs = [tables["functions"][fid] for fid in func_ids]

    loc_ids = list(profile_row["location_ids"])
    loc_index = {lid: i for i, lid in enumerate(loc_ids)}
    locs = [tables["locations"][lid] for lid in loc_ids]
    line_counts = [len(loc["lines"]) for loc in locs]
    all_lines = [line for loc in locs for line in loc["lines"]]

    stack_rows = tables["stacks"]
    stack_ids = np.asarray(samples["stack_id"], dtype=np.int64)
    # Stacks map through the profile's location order.
    seqs = [stack_rows[int(s)]["location_ids"] for s in stack_ids]
    lengths = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=len(seqs))
    stack_locs = np.fromiter((loc_index[lid] for seq in seqs for lid in seq), dtype=np.int64,
                             count=int(lengths.sum()))

    label_sample, label_key, label_str, label_num, label_unit = [], [], [], [], []
    for i, labels in enumerate(samples["labels"]):
        for lab in labels or ():
            label_sample.append(i)
            label_key.append(lab["key"])
            label_str.append(lab["str"])
            label_num.append(lab["num"] or 0)
            label_unit.append(lab["unit"] or "")

    period_type = (ValueType(profile_row["period_type"], profile_row["period_unit"])
                   if profile_row["period_type"] is not None else None)
    return Profile(
        sample_types=[ValueType(t, u) for t, u in zip(profile_row["sample_types"], profile_row["sample_units"])],
        values=np.asarray(samples["values"], dtype=np.int64).reshape(len(stack_ids), len(profile_row["sample_types"])),
        stack_offsets=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        stack_locs=stack_locs,
        loc_id=np.arange(1, len(locs) + 1, dtype=np.uint64),
        loc_mapping=np.array([map_index[loc["mapping_id"]] if loc["mapping_id"] else -1 for loc in locs], dtype=np.int64),
        loc_address=np.array([_unsigned(loc["address"]) for loc in locs], dtype=np.uint64),
        loc_folded=np.array([bool(loc["is_folded"]) for loc in locs], dtype=bool),
        line_offsets=np.concatenate([[0], np.cumsum(line_counts)]).astype(np.int64),
        line_func=np.array([func_index[line["function_id"]] for line in all_lines], dtype=np.int64),
        line_no=np.array([line["line"] for line in all_lines], dtype=np.int64),
        line_col=np.array([line["column"] for line in all_lines], dtype=np.int64),
        func_id=np.arange(1, len(funcs) + 1, dtype=np.uint64),
        func_name=_objects(strings[f["name_id"]] for f in funcs),
        func_system_name=_objects(strings[f["system_name_id"]] for f in funcs),
        func_filename=_objects(strings[f["filename_id"]] for f in funcs),
        func_start_line=np.array([f["start_line"] for f in funcs], dtype=np.int64),
        mappings=mappings,
        label_sample=np.array(label_sample, dtype=np.int64),
        label_key=_objects(label_key), label_str=_objects(label_str),
        label_num=np.array(label_num, dtype=np.int64), label_unit=_objects(label_unit),
        default_sample_type=profile_row["default_sample_type"] or "",
        period_type=period_type, period=profile_row["period"] or 0,
        time_nanos=profile_row["own_time_nanos"] or 0, duration_nanos=profile_row["duration_nanos"] or 0,
        comments=list(profile_row["comments"] or ()), drop_frames=profile_row["drop_frames"] or "",
        keep_frames=profile_row["keep_frames"] or "", doc_url=profile_row["doc_url"] or "",
    )
