"""profile.proto on the wire: read gzipped or raw profiles (or the legacy text formats), write
gzipped profiles that `go tool pprof` reads.

The schema is built in code (no generated ``_pb2`` module), so the same file works with
protobuf 4.x through 7.x. Parsing uses protobuf's C backend; the bulk (every sample's stack,
values and labels) is then turned into NumPy columns without a Python loop per sample:

- a second view of the same bytes declares ``Profile.sample`` (and ``Sample.label``) as
  *singular* messages with repeated fields, so the parser merges every sample into one and
  concatenates their stacks, values and label fields in C;
- that merged sample is serialised again (packed varints) and decoded with NumPy;
- the per-sample stack and label counts come from ``map(len, ...)`` over the samples.
"""
from __future__ import annotations

import gzip
import io
import itertools
import operator
import zlib

import numpy as np

from ..errors import InvalidProfileError, ProfileFormatError
from ..model.profile import Mapping, Profile, ValueType, _objects, _ranges

# Profiles larger than this once decompressed are refused (gzip bombs, runaway files).
DEFAULT_MAX_BYTES = 2 * 1024**3

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

    def schema(package, merged):
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
            (2, "sample", MESSAGE, OPT if merged else REP, pkg + (".SampleColumns" if merged else ".Sample")),
            (3, "mapping", MESSAGE, REP, pkg + ".Mapping"),
            (4, "location", MESSAGE, REP, pkg + ".Location"),
            (5, "function", MESSAGE, REP, pkg + ".Function"),
            (6, "string_table", STRING, REP),
            (7, "drop_frames", INT64, OPT), (8, "keep_frames", INT64, OPT),
            (9, "time_nanos", INT64, OPT), (10, "duration_nanos", INT64, OPT),
            (11, "period_type", MESSAGE, OPT, pkg + ".ValueType"), (12, "period", INT64, OPT),
            (13, "comment", INT64, REP), (14, "default_sample_type", INT64, OPT), (15, "doc_url", INT64, OPT),
        ])
        if merged:
            # The merged sample's labels, seen as parallel columns (one per Label field).
            message(fd, "LabelColumns", [(1, "key", INT64, REP), (2, "str", INT64, REP), (3, "num", INT64, REP), (4, "num_unit", INT64, REP)])
            message(fd, "SampleColumns", [
                (1, "location_id", UINT64, REP), (2, "value", INT64, REP),
                (3, "label", MESSAGE, OPT, pkg + ".LabelColumns"),
            ])
        pool = descriptor_pool.DescriptorPool()
        pool.Add(fd)
        return GetMessageClass(pool.FindMessageTypeByName(f"{package}.Profile"))

    return schema("perftools.profiles", merged=False), schema("pyprofnb.merged", merged=True)


_MESSAGES = None


def _messages():
    global _MESSAGES
    if _MESSAGES is None:
        _MESSAGES = _build_messages()
    return _MESSAGES


def profile_message_class():
    """The protobuf class of ``perftools.profiles.Profile`` (built at runtime)."""
    return _messages()[0]


# ------------------------------------------------------------------ reading

def decompress(data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """The profile bytes with gzip removed (if any), refusing more than ``max_bytes``."""
    if not data.startswith(_GZIP_MAGIC):
        if len(data) > max_bytes:
            raise ProfileFormatError(f"profile is {len(data)} bytes, more than the limit of {max_bytes}")
        return bytes(data)
    out = io.BytesIO()
    stream = io.BytesIO(data)
    size = 0
    try:
        # Several concatenated gzip members are legal; read them all, bounded.
        with gzip.GzipFile(fileobj=stream) as gz:
            while True:
                chunk = gz.read(min(1 << 22, max_bytes + 1 - size))
                if not chunk:
                    break
                size += len(chunk)
                if size > max_bytes:
                    raise ProfileFormatError(
                        f"gzip data expands to more than {max_bytes} bytes; refusing it (a gzip bomb?)"
                    )
                out.write(chunk)
    except (OSError, EOFError, zlib.error) as exc:
        raise ProfileFormatError(f"gzip data is truncated or corrupt: {exc}") from None
    return out.getvalue()


def decode(data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES, source: str = "profile") -> Profile:
    """Read a profile: gzipped or raw profile.proto, or the legacy text formats
    (``heap?debug=1``, goroutine ``debug=1``)."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ProfileFormatError(f"{source}: expected bytes, got {type(data).__name__}")
    if len(data) == 0:
        raise ProfileFormatError(f"{source} is empty; expected a profile.proto (gzipped or raw) or legacy text")
    raw = decompress(bytes(data), max_bytes=max_bytes)
    if _looks_like_text(raw):
        from . import legacy_text

        return legacy_text.parse(raw, source=source)
    try:
        return decode_proto(raw)
    except ProfileFormatError as exc:
        raise ProfileFormatError(f"{source}: {exc}") from None
    except InvalidProfileError as exc:
        raise InvalidProfileError(f"{source}: {exc}") from None


def _looks_like_text(raw: bytes) -> bool:
    head = raw[:64].lstrip()
    return head.startswith((b"heap profile:", b"heap_v2/", b"goroutine profile:", b"threadcreate profile:")) or (
        b" profile: total " in raw[:200] and raw[:1].isalpha()
    )


_VARINT_CHUNK = 1 << 22  # bytes decoded at a time, to bound the temporaries


def _varints(buf: np.ndarray) -> np.ndarray:
    """Decode a run of base-128 varints (a packed repeated field) into uint64."""
    if len(buf) == 0:
        return np.zeros(0, dtype=np.uint64)
    if buf[-1] & 0x80:
        raise ProfileFormatError("packed field ends inside a varint")
    terminators = buf < 0x80
    out = np.empty(int(np.count_nonzero(terminators)), dtype=np.uint64)
    done = 0
    start = 0
    while start < len(buf):
        # Cut the chunk just after a terminator byte so no varint is split.
        stop = min(start + _VARINT_CHUNK, len(buf))
        if stop < len(buf):
            stop = start + int(np.flatnonzero(terminators[start:stop])[-1]) + 1 if terminators[start:stop].any() else stop
        chunk = buf[start:stop]
        ends = np.flatnonzero(terminators[start:stop]).astype(np.int32)
        starts = np.empty_like(ends)
        starts[0] = 0
        starts[1:] = ends[:-1] + 1
        lengths = ends - starts + 1
        longest = int(lengths.max())
        if longest > 10:
            raise ProfileFormatError("varint longer than 10 bytes")
        values = (chunk[starts] & 0x7F).astype(np.uint64)
        for j in range(1, longest):
            sel = np.flatnonzero(lengths > j)
            values[sel] |= (chunk[starts[sel] + j] & 0x7F).astype(np.uint64) << np.uint64(7 * j)
        out[done: done + len(values)] = values
        done += len(values)
        start = stop
    return out


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        b = buf[pos]
        result |= (b & 0x7F) << shift
        pos += 1
        if b < 0x80:
            return result, pos
        shift += 7


def _packed_fields(blob: bytes) -> dict[int, np.ndarray]:
    """The length-delimited top-level fields of a serialised message (packed varints or
    sub-messages), each field number appearing once: field number -> its bytes."""
    view = np.frombuffer(blob, dtype=np.uint8)
    fields: dict[int, np.ndarray] = {}
    pos = 0
    while pos < len(blob):
        key, pos = _read_varint(blob, pos)
        if key & 7 != 2 or (key >> 3) in fields:
            raise ProfileFormatError(f"unexpected field layout in re-serialised samples (key {key})")
        length, pos = _read_varint(blob, pos)
        fields[key >> 3] = view[pos: pos + length]
        pos += length
    return fields


def _strings_at(strings: np.ndarray, index: np.ndarray, what: str) -> np.ndarray:
    if len(index) and (index.min() < 0 or index.max() >= len(strings)):
        bad = index[(index < 0) | (index >= len(strings))][0]
        raise InvalidProfileError(f"{what} refers to string {bad}, but the string table has {len(strings)} entries")
    return strings[index]


def decode_proto(raw: bytes) -> Profile:
    """Decode raw (not gzipped) profile.proto bytes into a Profile."""
    from google.protobuf.message import DecodeError

    profile_cls, merged_cls = _messages()
    try:
        msg = profile_cls.FromString(raw)
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise ProfileFormatError(f"not a valid profile.proto message ({exc})") from None

    strings = _objects(msg.string_table)
    if len(strings) == 0:
        if len(raw) and not (msg.sample_type or msg.sample or msg.location):
            raise ProfileFormatError("not a profile: no string table, sample types or samples")
        strings = _objects([""])
    if strings[0] != "":
        raise InvalidProfileError("string_table[0] must be the empty string")

    def s(i: int) -> str:
        if not 0 <= i < len(strings):
            raise InvalidProfileError(f"string index {i} out of range (table has {len(strings)} entries)")
        return strings[i]

    sample_types = [ValueType(s(t.type), s(t.unit)) for t in msg.sample_type]
    n_types = len(sample_types)

    # Functions
    funcs = msg.function
    n_funcs = len(funcs)
    f_fields = np.array(
        [(f.id, f.name, f.system_name, f.filename, f.start_line) for f in funcs], dtype=object
    ).reshape(n_funcs, 5)
    func_id = f_fields[:, 0].astype(np.uint64)
    func_name = _strings_at(strings, f_fields[:, 1].astype(np.int64), "a function name")
    func_system_name = _strings_at(strings, f_fields[:, 2].astype(np.int64), "a function system name")
    func_filename = _strings_at(strings, f_fields[:, 3].astype(np.int64), "a function filename")
    func_start_line = f_fields[:, 4].astype(np.int64)

    # Mappings
    mappings = [
        Mapping(
            id=m.id, memory_start=m.memory_start, memory_limit=m.memory_limit, file_offset=m.file_offset,
            filename=s(m.filename), build_id=s(m.build_id), has_functions=m.has_functions,
            has_filenames=m.has_filenames, has_line_numbers=m.has_line_numbers,
            has_inline_frames=m.has_inline_frames,
        )
        for m in msg.mapping
    ]
    mapping_ids = np.array([m.id for m in mappings], dtype=np.uint64)

    # Locations and their lines
    locs = msg.location
    n_locs = len(locs)
    loc_fields = np.array(
        [(l.id, l.mapping_id, l.address, l.is_folded, len(l.line)) for l in locs], dtype=np.uint64
    ).reshape(n_locs, 5)
    loc_id = loc_fields[:, 0]
    line_counts = loc_fields[:, 4].astype(np.int64)
    line_offsets = np.concatenate([[0], np.cumsum(line_counts)]).astype(np.int64)
    lines = np.array(
        [(ln.function_id, ln.line, ln.column) for l in locs for ln in l.line], dtype=np.int64
    ).reshape(-1, 3)
    line_func = _index_of(func_id, lines[:, 0].astype(np.uint64), "a location line", "function")
    loc_mapping = np.full(n_locs, -1, dtype=np.int64)
    has_mapping = loc_fields[:, 1] != 0
    if has_mapping.any():
        loc_mapping[has_mapping] = _index_of(mapping_ids, loc_fields[has_mapping, 1], "a location", "mapping")

    header = dict(
        default_sample_type=s(msg.default_sample_type),
        period_type=ValueType(s(msg.period_type.type), s(msg.period_type.unit)) if msg.HasField("period_type") else None,
        period=msg.period,
        time_nanos=msg.time_nanos,
        duration_nanos=msg.duration_nanos,
        comments=[s(c) for c in msg.comment],
        drop_frames=s(msg.drop_frames),
        keep_frames=s(msg.keep_frames),
        doc_url=s(msg.doc_url),
    )

    # Samples: lengths per sample from this parse; then, with it freed (it is the largest
    # object here), the concatenated columns from the merged view.
    samples = msg.sample
    n_samples = len(samples)
    stack_lengths = np.fromiter(map(len, map(operator.attrgetter("location_id"), samples)), dtype=np.int64, count=n_samples)
    label_counts = np.fromiter(map(len, map(operator.attrgetter("label"), samples)), dtype=np.int64, count=n_samples)
    del samples, msg, funcs, locs
    fields = {}
    if n_samples:
        merged = merged_cls.FromString(raw)
        blob = merged.sample.SerializeToString()
        del merged
        fields = _packed_fields(blob)
    all_locs = _varints(fields[1]) if 1 in fields else np.zeros(0, np.uint64)
    all_values = _varints(fields[2]).view(np.int64) if 2 in fields else np.zeros(0, np.int64)
    if len(all_values) != n_samples * n_types:
        samples = profile_cls.FromString(raw).sample
        counts = np.fromiter(map(len, map(operator.attrgetter("value"), samples)), dtype=np.int64, count=n_samples)
        bad = int(np.flatnonzero(counts != n_types)[0])
        raise InvalidProfileError(
            f"sample {bad} has {counts[bad]} values, but the profile has {n_types} sample types"
        )
    stack_locs = _index_of(loc_id, all_locs, "a sample", "location")
    del all_locs

    n_labels = int(label_counts.sum())
    label_sample = np.repeat(np.arange(n_samples, dtype=np.int64), label_counts)
    label_key, label_str, label_num, label_unit = _decode_labels(
        lambda: profile_cls.FromString(raw).sample, fields.get(3), n_labels, strings)
    del fields

    prof = Profile(
        sample_types=sample_types,
        values=all_values.reshape(n_samples, n_types),
        stack_offsets=np.concatenate([[0], np.cumsum(stack_lengths)]).astype(np.int64),
        stack_locs=stack_locs,
        loc_id=loc_id,
        loc_mapping=loc_mapping,
        loc_address=loc_fields[:, 2],
        loc_folded=loc_fields[:, 3].astype(bool),
        line_offsets=line_offsets,
        line_func=line_func,
        line_no=lines[:, 1],
        line_col=lines[:, 2],
        func_id=func_id,
        func_name=func_name,
        func_system_name=func_system_name,
        func_filename=func_filename,
        func_start_line=func_start_line,
        mappings=mappings,
        label_sample=label_sample,
        label_key=label_key,
        label_str=label_str,
        label_num=label_num,
        label_unit=label_unit,
        **header,
    )
    return prof.validate()


def _index_of(ids: np.ndarray, refs: np.ndarray, who: str, what: str) -> np.ndarray:
    """Positions in ``ids`` of each id in ``refs``; InvalidProfileError for dangling ids."""
    if len(refs) == 0:
        return np.zeros(0, dtype=np.int64)
    if len(ids) and np.all(ids == np.arange(1, len(ids) + 1, dtype=np.uint64)):
        pos = refs.astype(np.int64) - 1
        ok = (refs >= 1) & (refs <= len(ids))
    else:
        order = np.argsort(ids, kind="stable")
        sorted_ids = ids[order]
        where = np.searchsorted(sorted_ids, refs)
        where_c = np.minimum(where, max(len(ids) - 1, 0))
        ok = (where < len(ids)) & (sorted_ids[where_c] == refs) if len(ids) else np.zeros(len(refs), bool)
        pos = order[where_c] if len(ids) else np.zeros(len(refs), np.int64)
    if not ok.all():
        bad = refs[~ok][0]
        raise InvalidProfileError(f"{who} refers to {what} id {bad}, which does not exist")
    return pos.astype(np.int64)


def _decode_labels(reparse_samples, columns_blob, n_labels, strings):
    """Label columns of every sample, in order. Fast path: when every label has the same
    fields, the merged label columns line up; otherwise walk the labels one by one."""
    if n_labels == 0:
        return _objects([]), _objects([]), np.zeros(0, np.int64), _objects([])
    cols = _packed_fields(columns_blob.tobytes()) if columns_blob is not None else {}
    key, sval, num, unit = (_varints(cols[i]).view(np.int64) if i in cols else np.zeros(0, np.int64) for i in (1, 2, 3, 4))
    if len(key) != n_labels or not all(len(c) in (0, n_labels) for c in (sval, num, unit)):
        labels = list(itertools.chain.from_iterable(map(operator.attrgetter("label"), reparse_samples())))
        key = np.fromiter(map(operator.attrgetter("key"), labels), dtype=np.int64, count=n_labels)
        sval = np.fromiter(map(operator.attrgetter("str"), labels), dtype=np.int64, count=n_labels)
        num = np.fromiter(map(operator.attrgetter("num"), labels), dtype=np.int64, count=n_labels)
        unit = np.fromiter(map(operator.attrgetter("num_unit"), labels), dtype=np.int64, count=n_labels)
    zeros = np.zeros(n_labels, np.int64)
    sval = sval if len(sval) else zeros
    num = num if len(num) else zeros
    unit = unit if len(unit) else zeros
    keys = _strings_at(strings, key, "a label key")
    str_values = _strings_at(strings, sval, "a label value")
    is_numeric = sval == 0
    str_values = str_values.copy()
    str_values[is_numeric] = None
    return keys, str_values, num, _strings_at(strings, unit, "a label unit")


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
    profile_cls = _messages()[0]
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


__all__ = ["DEFAULT_MAX_BYTES", "decode", "decode_proto", "decompress", "encode", "profile_message_class"]
