"""profile.proto on the wire: read gzipped or raw profiles (or the legacy text formats), write
gzipped profiles that `go tool pprof` reads.

Reading is bounded and takes one parse: a small C decoder (``codec/_decode.c``) walks the
bytes once to check them and count everything, the counts are compared with a memory budget
(`DEFAULT_MEMORY_BUDGET`, raised with ``memory_budget=`` or ``PYPROFNB_MEMORY_BUDGET``), and
a second walk writes straight into NumPy columns: no Python object per sample, no copy.
Gzip is bounded too: a member stating more than ``max_bytes`` is refused before it is
decompressed, one expanding beyond what it states as soon as it does.

Writing builds the samples with NumPy and the rest with protobuf's classes; the schema is
built in code (no generated ``_pb2`` module), so it works with protobuf 4.x through 7.x.
"""
from __future__ import annotations

import gzip
import os
import zlib

import numpy as np

from ..errors import InvalidProfileError, ProfileFormatError
from ..model.profile import Mapping, Profile, ValueType, _objects, _ranges

# Profiles larger than this once decompressed are refused (gzip bombs, runaway files);
# a profile of a million samples 20-40 frames deep is about 200 MB.
DEFAULT_MAX_BYTES = 1 << 30
# The memory a decoded profile may take (its columns and strings), unless raised with
# ``memory_budget=`` or ``PYPROFNB_MEMORY_BUDGET``: checked before anything is allocated.
DEFAULT_MEMORY_BUDGET = 4 << 30

_GZIP_MAGIC = b"\x1f\x8b"


# ------------------------------------------------------------------ the schema

def _build_messages():
    from google.protobuf import descriptor_pb2, descriptor_pool

    try:
        from google.protobuf.message_factory import GetMessageClass
    except ImportError:  # protobuf < 4.21.? keeps only the factory object
        from google.protobuf.message_factory import MessageFactory

        _factory = MessageFactory()

        def GetMessageClass(desc):  # noqa: N802 - protobuf's own name
            return _factory.GetPrototype(desc)

    F = descriptor_pb2.FieldDescriptorProto
    INT64, UINT64, BOOL, STRING, MESSAGE = F.TYPE_INT64, F.TYPE_UINT64, F.TYPE_BOOL, F.TYPE_STRING, F.TYPE_MESSAGE
    REP, OPT = F.LABEL_REPEATED, F.LABEL_OPTIONAL

    def message(fd, name, fields):
        msg = fd.message_type.add(name=name)
        for number, fname, ftype, label, *type_name in fields:
            field = msg.field.add(name=fname, number=number, type=ftype, label=label)
            if type_name:
                field.type_name = type_name[0]
        return msg

    def schema(package):
        fd = descriptor_pb2.FileDescriptorProto(name=f"{package}.proto", package=package, syntax="proto3")
        pkg = "." + package
        message(fd, "ValueType", [(1, "type", INT64, OPT), (2, "unit", INT64, OPT)])
        message(fd, "Label", [(1, "key", INT64, OPT), (2, "str", INT64, OPT), (3, "num", INT64, OPT), (4, "num_unit", INT64, OPT)])
        message(fd, "Sample", [(1, "location_id", UINT64, REP), (2, "value", INT64, REP), (3, "label", MESSAGE, REP, pkg + ".Label")])
        message(fd, "Mapping", [
            (1, "id", UINT64, OPT), (2, "memory_start", UINT64, OPT), (3, "memory_limit", UINT64, OPT),
            (4, "file_offset", UINT64, OPT), (5, "filename", INT64, OPT), (6, "build_id", INT64, OPT),
            (7, "has_functions", BOOL, OPT), (8, "has_filenames", BOOL, OPT),
            (9, "has_line_numbers", BOOL, OPT), (10, "has_inline_frames", BOOL, OPT),
        ])
        message(fd, "Line", [(1, "function_id", UINT64, OPT), (2, "line", INT64, OPT), (3, "column", INT64, OPT)])
        message(fd, "Location", [
            (1, "id", UINT64, OPT), (2, "mapping_id", UINT64, OPT), (3, "address", UINT64, OPT),
            (4, "line", MESSAGE, REP, pkg + ".Line"), (5, "is_folded", BOOL, OPT),
        ])
        message(fd, "Function", [
            (1, "id", UINT64, OPT), (2, "name", INT64, OPT), (3, "system_name", INT64, OPT),
            (4, "filename", INT64, OPT), (5, "start_line", INT64, OPT),
        ])
        message(fd, "Profile", [
            (1, "sample_type", MESSAGE, REP, pkg + ".ValueType"),
            (2, "sample", MESSAGE, REP, pkg + ".Sample"),
            (3, "mapping", MESSAGE, REP, pkg + ".Mapping"),
            (4, "location", MESSAGE, REP, pkg + ".Location"),
            (5, "function", MESSAGE, REP, pkg + ".Function"),
            (6, "string_table", STRING, REP),
            (7, "drop_frames", INT64, OPT), (8, "keep_frames", INT64, OPT),
            (9, "time_nanos", INT64, OPT), (10, "duration_nanos", INT64, OPT),
            (11, "period_type", MESSAGE, OPT, pkg + ".ValueType"), (12, "period", INT64, OPT),
            (13, "comment", INT64, REP), (14, "default_sample_type", INT64, OPT), (15, "doc_url", INT64, OPT),
        ])
        pool = descriptor_pool.DescriptorPool()
        pool.Add(fd)
        return GetMessageClass(pool.FindMessageTypeByName(f"{package}.Profile"))

    return schema("perftools.profiles")


_MESSAGES = None


def _messages():
    global _MESSAGES
    if _MESSAGES is None:
        _MESSAGES = _build_messages()
    return _MESSAGES


def profile_message_class():
    """The protobuf class of ``perftools.profiles.Profile`` (built at runtime)."""
    return _messages()


# ------------------------------------------------------------------ reading

def _size_from_env(name: str, default: int) -> int:
    """A byte count from the environment (``8G``, ``512M``, ``8GiB`` or a number)."""
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    units = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    body = text.upper().removesuffix("IB").removesuffix("B")
    suffix = body[-1:] if body[-1:] in units else ""
    number = body[: len(body) - len(suffix)]
    try:
        return int(float(number) * units[suffix])
    except ValueError:
        raise ProfileFormatError(f"{name} must be a size such as 8G or 8589934592, got {text!r}") from None


def default_memory_budget() -> int:
    """The memory one profile may take once decoded: `DEFAULT_MEMORY_BUDGET`, or the
    environment's ``PYPROFNB_MEMORY_BUDGET`` (``16G``...). ``pyprofnb.load(...,
    memory_budget=...)`` sets it for one load."""
    return _size_from_env("PYPROFNB_MEMORY_BUDGET", DEFAULT_MEMORY_BUDGET)


def decompress(data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """The profile bytes with gzip removed (if any), refusing more than ``max_bytes``.

    A gzip stream states its size in its trailer (modulo 4 GiB): a stated size over the
    limit is refused before anything is decompressed (a gzip bomb usually states its size
    honestly), and any stream is refused as soon as it expands beyond the limit, so no more
    than ``max_bytes`` is ever held."""
    if not data.startswith(_GZIP_MAGIC):
        if len(data) > max_bytes:
            raise ProfileFormatError(f"profile is {len(data)} bytes, more than the limit of {max_bytes}")
        return bytes(data)
    view = memoryview(data)
    parts: list[bytes] = []
    size = 0
    while len(view):
        if len(view) < 18 or bytes(view[:2]) != _GZIP_MAGIC:
            if not any(view):  # trailing zero padding, as gzip(1) accepts
                break
            raise ProfileFormatError("gzip data is truncated or corrupt: trailing garbage after the gzip stream")
        stated = int.from_bytes(view[-4:], "little")  # ISIZE of the last member
        room = max_bytes - size
        if not parts and stated > room and len(view) > 18:
            raise ProfileFormatError(
                f"gzip data is truncated or corrupt, or too large: its trailer states {stated} bytes, more than "
                f"the limit of {max_bytes} (raise max_bytes to read a larger profile)")
        d = zlib.decompressobj(wbits=31)
        try:
            # One member at most room + 1 bytes: enough to tell that it is over the limit.
            out = d.decompress(view, room + 1)
            while d.unconsumed_tail and len(out) <= room and not d.eof:
                more = d.decompress(d.unconsumed_tail, room + 1 - len(out))
                if not more:
                    break
                out += more
        except zlib.error as exc:
            raise ProfileFormatError(f"gzip data is truncated or corrupt: {exc}") from None
        if len(out) > room:
            raise ProfileFormatError(
                f"gzip data expands to more than the limit of {max_bytes} bytes; refusing it (a gzip bomb? "
                f"raise max_bytes to read it)")
        if not d.eof:
            raise ProfileFormatError("gzip data is truncated or corrupt: the stream ends early")
        parts.append(out)
        size += len(out)
        view = memoryview(d.unused_data) if d.unused_data else memoryview(b"")
    return parts[0] if len(parts) == 1 else b"".join(parts)


def decode(data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES, source: str = "profile",
           memory_budget: int | None = None) -> Profile:
    """Read a profile: gzipped or raw profile.proto, or the legacy text formats
    (``heap?debug=1``, goroutine ``debug=1``). A profile that would take more than
    ``memory_budget`` bytes once decoded (default: `memory_budget()`) is refused before
    it is built."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ProfileFormatError(f"{source}: expected bytes, got {type(data).__name__}")
    if len(data) == 0:
        raise ProfileFormatError(f"{source} is empty; expected a profile.proto (gzipped or raw) or legacy text")
    budget = memory_budget if memory_budget is not None else default_memory_budget()
    try:
        raw = decompress(data, max_bytes=max_bytes)
    except ProfileFormatError as exc:
        raise ProfileFormatError(f"{source}: {exc}") from None
    if _looks_like_text(raw):
        from . import legacy_text

        # Text becomes Python lists before columns: about 40 bytes per byte of text.
        if len(raw) * _TEXT_COST > budget:
            raise ProfileFormatError(
                f"{source}: a legacy text profile of {len(raw)} bytes needs about {len(raw) * _TEXT_COST} bytes "
                f"to read, more than the memory budget of {budget} (raise it with memory_budget= or "
                f"PYPROFNB_MEMORY_BUDGET)")
        return legacy_text.parse(raw, source=source)
    try:
        return decode_proto(raw, memory_budget=budget)
    except ProfileFormatError as exc:
        raise ProfileFormatError(f"{source}: {exc}") from None
    except InvalidProfileError as exc:
        raise InvalidProfileError(f"{source}: {exc}") from None


_TEXT_COST = 40


def _looks_like_text(raw: bytes) -> bool:
    head = raw[:64].lstrip()
    return head.startswith((b"heap profile:", b"heap_v2/", b"goroutine profile:", b"threadcreate profile:")) or (
        b" profile: total " in raw[:200] and raw[:1].isalpha()
    )


def _strings_at(strings: np.ndarray, index: np.ndarray, what: str) -> np.ndarray:
    if len(index) and (index.min() < 0 or index.max() >= len(strings)):
        bad = index[(index < 0) | (index >= len(strings))][0]
        raise InvalidProfileError(f"{what} refers to string {bad}, but the string table has {len(strings)} entries")
    return strings[index]


def decoded_size(counts: dict) -> int:
    """Bytes the decoded profile takes (columns, index arrays, strings), from the counts of
    `_decode.scan`; what the memory budget is compared with."""
    c = counts
    words = (2 * c["n_types"] + 2 * c["n_stack"] + 2 * (c["n_samples"] + 1) + c["n_values"]
             + 9 * c["n_labels"] + 10 * c["n_mappings"] + 7 * (c["n_locs"] + 1) + 4 * c["n_lines"]
             + 9 * c["n_funcs"] + c["n_comments"] + 2 * c["n_strings"])
    return 8 * words + 56 * c["n_strings"] + c["string_bytes"]


def _column(cols: dict, name: str, dtype) -> np.ndarray:
    return np.frombuffer(cols[name], dtype=dtype)


def decode_proto(raw: bytes, *, memory_budget: int | None = None) -> Profile:
    """Decode raw (not gzipped) profile.proto bytes into a Profile: one walk to check and
    count, a budget check, one walk straight into NumPy columns (see ``codec/_decode.c``)."""
    from . import _decode

    budget = memory_budget if memory_budget is not None else default_memory_budget()
    try:
        counts = _decode.scan(raw)
    except _decode.DecodeError as exc:
        raise ProfileFormatError(f"not a valid profile.proto message ({exc})") from None
    need = decoded_size(counts) + len(raw)
    if need > budget:
        raise ProfileFormatError(
            f"decoding needs about {need} bytes ({counts['n_samples']} samples, {counts['n_stack']} stack entries, "
            f"{counts['n_strings']} strings), more than the memory budget of {budget} (raise it with "
            f"memory_budget= or PYPROFNB_MEMORY_BUDGET)")
    n_types, n_samples = counts["n_types"], counts["n_samples"]
    if n_samples and counts["odd_sample"] < 0 and counts["first_values"] != n_types:
        counts["odd_sample"], counts["odd_values"] = 0, counts["first_values"]
    if n_samples and counts["odd_sample"] >= 0:
        raise InvalidProfileError(
            f"sample {counts['odd_sample']} has {counts['odd_values']} values, but the profile has {n_types} "
            f"sample types")
    if counts["n_strings"] == 0 and len(raw) and not (n_types or n_samples or counts["n_locs"]):
        raise ProfileFormatError("not a profile: no string table, sample types or samples")
    try:
        cols = _decode.fill(raw, counts)
    except _decode.DecodeError as exc:
        raise ProfileFormatError(f"not a valid profile.proto message ({exc})") from None
    strings = _objects(cols.pop("strings") or [""])
    if strings[0] != "":
        raise InvalidProfileError("string_table[0] must be the empty string")

    def s(i: int) -> str:
        if not 0 <= i < len(strings):
            raise InvalidProfileError(f"string index {i} out of range (table has {len(strings)} entries)")
        return strings[i]

    i64, u64 = np.int64, np.uint64
    st_type, st_unit = _column(cols, "st_type", i64), _column(cols, "st_unit", i64)
    sample_types = [ValueType(s(t), s(u)) for t, u in zip(st_type.tolist(), st_unit.tolist())]

    func_id = _column(cols, "f_id", u64)
    func_name = _strings_at(strings, _column(cols, "f_name", i64), "a function name")
    func_system_name = _strings_at(strings, _column(cols, "f_sys", i64), "a function system name")
    func_filename = _strings_at(strings, _column(cols, "f_file", i64), "a function filename")

    maps = _column(cols, "maps", u64).reshape(-1, 10)
    mappings = [
        Mapping(id=int(m[0]), memory_start=int(m[1]), memory_limit=int(m[2]), file_offset=int(m[3]),
                filename=s(int(m[4])), build_id=s(int(m[5])),
                has_functions=bool(m[6]), has_filenames=bool(m[7]), has_line_numbers=bool(m[8]),
                has_inline_frames=bool(m[9]))
        for m in maps
    ]
    mapping_ids = maps[:, 0].copy()

    loc_id = _column(cols, "loc_id", u64)
    loc_map = _column(cols, "loc_map", u64)
    line_func = _index_of(func_id, _column(cols, "line_func", u64), "a location line", "function")
    loc_mapping = np.full(len(loc_id), -1, dtype=np.int64)
    has_mapping = loc_map != 0
    if has_mapping.any():
        loc_mapping[has_mapping] = _index_of(mapping_ids, loc_map[has_mapping], "a location", "mapping")

    # The largest column (one id per stack entry) becomes the index column in place.
    stack_locs = _index_of(loc_id, _column(cols, "stack", u64), "a sample", "location", in_place=True)

    n_labels = counts["n_labels"]
    label_str_idx = _column(cols, "l_str", i64)
    label_str = _strings_at(strings, label_str_idx, "a label value")
    if n_labels:
        label_str = label_str.copy()
        label_str[label_str_idx == 0] = None  # a numeric label

    prof = Profile(
        sample_types=sample_types,
        values=_column(cols, "values", i64).reshape(n_samples, n_types),
        stack_offsets=_column(cols, "stack_off", i64),
        stack_locs=stack_locs,
        loc_id=loc_id,
        loc_mapping=loc_mapping,
        loc_address=_column(cols, "loc_addr", u64),
        loc_folded=_column(cols, "loc_folded", np.bool_),
        line_offsets=_column(cols, "line_off", i64),
        line_func=line_func,
        line_no=_column(cols, "line_no", i64),
        line_col=_column(cols, "line_col", i64),
        func_id=func_id,
        func_name=func_name,
        func_system_name=func_system_name,
        func_filename=func_filename,
        func_start_line=_column(cols, "f_start", i64),
        mappings=mappings,
        label_sample=_column(cols, "l_sample", i64),
        label_key=_strings_at(strings, _column(cols, "l_key", i64), "a label key"),
        label_str=label_str,
        label_num=_column(cols, "l_num", i64),
        label_unit=_strings_at(strings, _column(cols, "l_unit", i64), "a label unit"),
        default_sample_type=s(cols["default_sample_type"]),
        period_type=ValueType(s(cols["period_type"]), s(cols["period_unit"])) if cols["has_period_type"] else None,
        period=cols["period"],
        time_nanos=cols["time_nanos"],
        duration_nanos=cols["duration_nanos"],
        comments=[s(c) for c in _column(cols, "comments", i64).tolist()],
        drop_frames=s(cols["drop_frames"]),
        keep_frames=s(cols["keep_frames"]),
        doc_url=s(cols["doc_url"]),
    )
    return prof.validate()


def _index_of(ids: np.ndarray, refs: np.ndarray, who: str, what: str, *, in_place: bool = False) -> np.ndarray:
    """Positions in ``ids`` of each id in ``refs``; InvalidProfileError for dangling ids.
    With ``in_place``, ``refs`` (a uint64 column nobody else holds) may become the result."""
    if len(refs) == 0:
        return np.zeros(0, dtype=np.int64)
    if len(ids) and ids[0] == 1 and ids[-1] == len(ids) and np.array_equal(ids, np.arange(1, len(ids) + 1, dtype=np.uint64)):
        # ids 1..n (what Go and pyprofnb write): the position is the id - 1.
        if in_place and refs.flags.writeable:
            pos = refs.view(np.int64)
            np.subtract(pos, 1, out=pos)
        else:
            pos = refs.view(np.int64) - 1
        bad = (pos < 0) | (pos >= len(ids))
        if bad.any():
            bad_id = (int(pos[bad][0]) + 1) % (1 << 64)
            raise InvalidProfileError(f"{who} refers to {what} id {bad_id}, which does not exist")
        return pos
    if len(ids) == 0:
        raise InvalidProfileError(f"{who} refers to {what} id {refs[0]}, which does not exist")
    order = np.argsort(ids, kind="stable")
    sorted_ids = ids[order]
    where = np.searchsorted(sorted_ids, refs)
    where_c = np.minimum(where, len(ids) - 1)
    ok = (where < len(ids)) & (sorted_ids[where_c] == refs)
    if not ok.all():
        bad = refs[~ok][0]
        raise InvalidProfileError(f"{who} refers to {what} id {bad}, which does not exist")
    return order[where_c].astype(np.int64)


# ------------------------------------------------------------------ writing

class _StringTable:
    def __init__(self):
        self.index: dict[str, int] = {"": 0}

    def __call__(self, value: str | None) -> int:
        if not value:
            return 0
        i = self.index.get(value)
        if i is None:
            i = self.index[value] = len(self.index)
        return i

    def codes(self, values: np.ndarray) -> np.ndarray:
        """Indexes for an object array of strings, looked up once per distinct value."""
        import pandas as pd

        codes, uniques = pd.factorize(values, use_na_sentinel=False)
        table = np.fromiter((self(u if isinstance(u, str) else None) for u in uniques), dtype=np.int64, count=len(uniques))
        return table[codes] if len(codes) else np.zeros(0, np.int64)


def _varint_bytes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Encode uint64 values as varints: (bytes, byte length of each value)."""
    v = values.astype(np.uint64, copy=False)
    lengths = np.ones(len(v), dtype=np.int64)
    for k in range(1, 10):
        lengths += v >= np.uint64(1 << (7 * k))
    out = np.zeros(int(lengths.sum()), dtype=np.uint8)
    starts = np.cumsum(lengths) - lengths
    for j in range(10):
        sel = np.flatnonzero(lengths > j)
        if len(sel) == 0:
            break
        byte = ((v[sel] >> np.uint64(7 * j)) & np.uint64(0x7F)).astype(np.uint8)
        more = (lengths[sel] > j + 1).astype(np.uint8) << 7
        out[starts[sel] + j] = byte | more
    return out, lengths


def _segments_concat(parts: list[tuple[np.ndarray, np.ndarray]], n: int) -> tuple[np.ndarray, np.ndarray]:
    """Interleave per-record byte segments: ``parts`` is a list of (bytes, per-record length)
    pairs, each holding its records back to back; the result holds, for record 0, part 0's
    bytes then part 1's..., then record 1, etc. Returns (bytes, per-record length)."""
    lengths = np.zeros(n, dtype=np.int64)
    for _, seg_len in parts:
        lengths += seg_len
    out = np.empty(int(lengths.sum()), dtype=np.uint8)
    rec_start = np.cumsum(lengths) - lengths
    offset_in_rec = np.zeros(n, dtype=np.int64)
    for data, seg_len in parts:
        dest_start = rec_start + offset_in_rec
        idx = _ranges(dest_start, seg_len)
        out[idx] = data
        offset_in_rec += seg_len
    return out, lengths


def _packed_per_record(values: np.ndarray, counts: np.ndarray, field: int, n: int):
    """For each record, ``field`` as a packed varint field (omitted when empty)."""
    data, vlen = _varint_bytes(values)
    rec_of_value = np.repeat(np.arange(n), counts)
    body_len = np.bincount(rec_of_value, weights=vlen, minlength=n).astype(np.int64) if len(vlen) else np.zeros(n, np.int64)
    present = counts > 0
    tag = np.full(int(present.sum()), (field << 3) | 2, dtype=np.uint64)
    len_bytes, len_len = _varint_bytes(body_len[present])
    tag_bytes, tag_len = _varint_bytes(tag)
    header, header_len_p = _segments_concat([(tag_bytes, tag_len), (len_bytes, len_len)], int(present.sum()))
    header_len = np.zeros(n, np.int64)
    header_len[present] = header_len_p
    return _segments_concat([(header, header_len), (data, body_len)], n)


def _encode_samples(prof: Profile, strings: _StringTable) -> bytes:
    """The ``sample`` fields (field 2) of the Profile message, built with NumPy."""
    n = prof.n_samples
    if n == 0:
        return b""
    loc_ids = np.arange(1, len(prof.loc_id) + 1, dtype=np.uint64)[prof.stack_locs]
    parts = [_packed_per_record(loc_ids, prof.stack_lengths, 1, n)]
    k = prof.values.shape[1]
    parts.append(_packed_per_record(prof.values.reshape(-1).view(np.uint64), np.full(n, k, np.int64), 2, n))
    if len(prof.label_sample):
        order = np.argsort(prof.label_sample, kind="stable")
        key = strings.codes(prof.label_key[order])
        is_str = np.array([v is not None for v in prof.label_str[order]], dtype=bool)
        sval = np.where(is_str, strings.codes(prof.label_str[order]), 0)
        num = np.where(is_str, 0, prof.label_num[order])
        unit = np.where(is_str, 0, strings.codes(prof.label_unit[order]))
        n_lab = len(order)
        # Each label message: its present fields as (tag, varint) pairs.
        fields = []
        for field_no, col in ((1, key), (2, sval), (3, num), (4, unit)):
            present = col != 0
            vb, vl = _varint_bytes(col[present].view(np.uint64) if col.dtype == np.int64 else col[present])
            tb, tl = _varint_bytes(np.full(int(present.sum()), field_no << 3, np.uint64))
            pair, pair_len_p = _segments_concat([(tb, tl), (vb, vl)], int(present.sum()))
            pair_len = np.zeros(n_lab, np.int64)
            pair_len[present] = pair_len_p
            fields.append((pair, pair_len))
        body, body_len = _segments_concat(fields, n_lab)
        tb, tl = _varint_bytes(np.full(n_lab, (3 << 3) | 2, np.uint64))
        lb, ll = _varint_bytes(body_len)
        label_msgs, label_len = _segments_concat([(tb, tl), (lb, ll), (body, body_len)], n_lab)
        per_sample = np.bincount(prof.label_sample[order], weights=label_len, minlength=n).astype(np.int64)
        parts.append((label_msgs, per_sample))
    sample_body, sample_len = _segments_concat(parts, n)
    tb, tl = _varint_bytes(np.full(n, (2 << 3) | 2, np.uint64))
    lb, ll = _varint_bytes(sample_len)
    out, _ = _segments_concat([(tb, tl), (lb, ll), (sample_body, sample_len)], n)
    return out.tobytes()


def encode(prof: Profile, *, compress: bool = True) -> bytes:
    """Serialise a Profile as profile.proto, gzipped (level 1, like Go) unless told not to."""
    profile_cls = _messages()
    strings = _StringTable()
    msg = profile_cls()
    for t in prof.sample_types:
        msg.sample_type.add(type=strings(t.type), unit=strings(t.unit))
    sample_bytes = _encode_samples(prof, strings)
    for i, m in enumerate(prof.mappings):
        msg.mapping.add(
            id=i + 1, memory_start=m.memory_start, memory_limit=m.memory_limit, file_offset=m.file_offset,
            filename=strings(m.filename), build_id=strings(m.build_id), has_functions=m.has_functions,
            has_filenames=m.has_filenames, has_line_numbers=m.has_line_numbers,
            has_inline_frames=m.has_inline_frames,
        )
    name_codes = strings.codes(prof.func_name)
    sys_codes = strings.codes(prof.func_system_name)
    file_codes = strings.codes(prof.func_filename)
    for i in range(len(prof.func_id)):
        msg.function.add(
            id=i + 1, name=int(name_codes[i]), system_name=int(sys_codes[i]), filename=int(file_codes[i]),
            start_line=int(prof.func_start_line[i]),
        )
    line_func = (prof.line_func + 1).tolist()
    line_no = prof.line_no.tolist()
    line_col = prof.line_col.tolist()
    offsets = prof.line_offsets.tolist()
    for i in range(len(prof.loc_id)):
        loc = msg.location.add(
            id=i + 1, mapping_id=int(prof.loc_mapping[i]) + 1, address=int(prof.loc_address[i]),
            is_folded=bool(prof.loc_folded[i]),
        )
        for j in range(offsets[i], offsets[i + 1]):
            loc.line.add(function_id=line_func[j], line=line_no[j], column=line_col[j])
    msg.drop_frames = strings(prof.drop_frames)
    msg.keep_frames = strings(prof.keep_frames)
    msg.time_nanos = prof.time_nanos
    msg.duration_nanos = prof.duration_nanos
    if prof.period_type is not None:
        msg.period_type.type = strings(prof.period_type.type)
        msg.period_type.unit = strings(prof.period_type.unit)
    msg.period = prof.period
    msg.comment.extend(strings(c) for c in prof.comments)
    msg.default_sample_type = strings(prof.default_sample_type)
    msg.doc_url = strings(prof.doc_url)
    msg.string_table.extend(strings.index)  # insertion order = index order
    raw = sample_bytes + msg.SerializeToString()
    return gzip.compress(raw, compresslevel=1, mtime=0) if compress else raw


__all__ = ["DEFAULT_MAX_BYTES", "DEFAULT_MEMORY_BUDGET", "decode", "default_memory_budget", "decode_proto", "decompress", "encode", "profile_message_class"]
