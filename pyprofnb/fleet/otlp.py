"""OpenTelemetry profiles (OTLP ``v1development``): convert pprof profiles to an
``ExportProfilesServiceRequest`` and back, and send them over HTTP or gRPC.

**Alpha.** The OTLP profiles signal is itself in development: its schema still changes
between releases of ``opentelemetry-proto``, so what this module writes follows the version
of that package installed, and every request carries the development-version marker
(``OTLP-Profiles-Development-Version`` on HTTP, ``otlp-profiles-development-version`` on
gRPC; version 1 unless told otherwise) so that a receiver that knows another revision can
refuse it rather than misread it.

    >>> from pyprofnb.fleet import otlp
    >>> otlp.export_http([(prof, {"service.name": "api"})], "http://127.0.0.1:4318")
    >>> otlp.export_grpc([(prof, {"service.name": "api"})], "127.0.0.1:4317")

The mapping, pprof -> OTLP (nothing is lost; `from_otlp` inverts it):

- one ``ResourceProfiles`` per pprof profile (resource attributes: the series labels), one
  ``ScopeProfiles`` in it (scope ``pyprofnb``), and one OTLP ``Profile`` per pprof sample
  type, in the pprof order (an OTLP profile has a single sample type). Every OTLP profile of
  a pprof profile has the same samples in the same order (zero values included), so the
  values line up again on the way back;
- functions, mappings, locations, stacks, strings and labels go to the request's shared
  ``ProfilesDictionary`` (index 0 of each table is the zero value);
- pprof fields OTLP has no field for are attributes: ``pprof.location.is_folded``,
  ``pprof.mapping.has_functions`` / ``has_filenames`` / ``has_line_numbers`` /
  ``has_inline_frames`` and ``pprof.profile.comment`` (OpenTelemetry's semantic conventions),
  and, in the same namespace, ``pprof.mapping.build_id``, ``pprof.profile.drop_frames``,
  ``keep_frames``, ``doc_url``, ``default_sample_type`` and ``pprof.profile.mapping_indices``
  (the profile's mappings in order, including those no location uses, which pprof keeps);
- a sample's labels are attributes: string labels as string values, numeric ones as int
  values with their unit.
"""
from __future__ import annotations

import uuid
from typing import Iterable, Mapping, Sequence

import numpy as np

from ..errors import FetchError, PprofError

DEVELOPMENT_VERSION = 1
HTTP_HEADER = "OTLP-Profiles-Development-Version"
GRPC_METADATA = "otlp-profiles-development-version"
HTTP_PATH = "/v1development/profiles"
SCOPE_NAME = "pyprofnb"

_BOOL_MAPPING_FLAGS = ("has_functions", "has_filenames", "has_line_numbers", "has_inline_frames")
_PROFILE_STRINGS = ("drop_frames", "keep_frames", "doc_url", "default_sample_type")


def _modules():
    try:
        from opentelemetry.proto.collector.profiles.v1development import profiles_service_pb2 as service
        from opentelemetry.proto.common.v1 import common_pb2 as common
        from opentelemetry.proto.profiles.v1development import profiles_pb2 as profiles
    except ImportError as exc:  # pragma: no cover - the fleet extra installs it
        raise PprofError("OTLP export needs the opentelemetry-proto package: pip install 'pyprofnb[fleet]'") from exc
    return profiles, service, common


class _Tables:
    """The request's dictionary, deduplicating entries by value."""

    def __init__(self, dictionary, common):
        self.d = dictionary
        self.common = common
        self.index: dict[tuple, int] = {}
        for table in ("mapping_table", "location_table", "function_table", "link_table", "attribute_table",
                      "stack_table"):
            getattr(self.d, table).add()  # the zero value at index 0
        self.d.string_table.append("")
        self.index[("s", "")] = 0

    def string(self, text: str) -> int:
        key = ("s", text)
        if key not in self.index:
            self.index[key] = len(self.d.string_table)
            self.d.string_table.append(text)
        return self.index[key]

    def attribute(self, key: str, value, unit: str = "") -> int:
        k = ("a", key, type(value).__name__, value, unit)
        if k not in self.index:
            self.index[k] = len(self.d.attribute_table)
            entry = self.d.attribute_table.add(key_strindex=self.string(key), unit_strindex=self.string(unit))
            if isinstance(value, tuple):
                entry.value.array_value.values.extend(self.common.AnyValue(int_value=v) for v in value)
            elif isinstance(value, bool):
                entry.value.bool_value = value
            elif isinstance(value, int):
                entry.value.int_value = value
            else:
                entry.value.string_value = value
        return self.index[k]

    def add(self, table: str, key: tuple, make) -> int:
        k = (table,) + key
        if k not in self.index:
            self.index[k] = len(getattr(self.d, table))
            make(getattr(self.d, table).add())
        return self.index[k]


def to_otlp(profiles: Iterable, *, scope_version: str = ""):
    """An ``ExportProfilesServiceRequest`` holding ``profiles``: Profiles, or
    ``(Profile, resource_attributes)`` pairs."""
    pb, service, common = _modules()
    request = service.ExportProfilesServiceRequest()
    tables = _Tables(request.dictionary, common)
    for item in profiles:
        prof, attrs = (item, {}) if not isinstance(item, tuple) else item
        _add_profile(request, tables, prof, dict(attrs or {}), scope_version)
    return request


def _add_profile(request, tables: _Tables, prof, attrs: Mapping[str, str], scope_version: str) -> None:
    resource = request.resource_profiles.add()
    for key, value in attrs.items():
        resource.resource.attributes.add(key=str(key)).value.string_value = str(value)
    scope = resource.scope_profiles.add()
    scope.scope.name = SCOPE_NAME
    scope.scope.version = scope_version

    map_index = []
    for m in prof.mappings:
        attr_idx = [tables.attribute(f"pprof.mapping.{flag}", True) for flag in _BOOL_MAPPING_FLAGS if getattr(m, flag)]
        if m.build_id:
            attr_idx.append(tables.attribute("pprof.mapping.build_id", m.build_id))
        key = (m.memory_start, m.memory_limit, m.file_offset, m.filename, tuple(attr_idx))
        fname = tables.string(m.filename)

        def make(entry, m=m, fname=fname, attr_idx=attr_idx):
            entry.memory_start, entry.memory_limit, entry.file_offset = m.memory_start, m.memory_limit, m.file_offset
            entry.filename_strindex = fname
            entry.attribute_indices.extend(attr_idx)

        map_index.append(tables.add("mapping_table", key, make))

    func_index = []
    for i in range(len(prof.func_id)):
        row = (tables.string(prof.func_name[i] or ""), tables.string(prof.func_system_name[i] or ""),
               tables.string(prof.func_filename[i] or ""), int(prof.func_start_line[i]))

        def make(entry, row=row):
            entry.name_strindex, entry.system_name_strindex, entry.filename_strindex, entry.start_line = row

        func_index.append(tables.add("function_table", row, make))

    loc_index = []
    offsets = prof.line_offsets
    folded_attr = None
    for i in range(len(prof.loc_id)):
        lines = tuple((func_index[int(prof.line_func[j])], int(prof.line_no[j]), int(prof.line_col[j]))
                      for j in range(int(offsets[i]), int(offsets[i + 1])))
        mapping = map_index[int(prof.loc_mapping[i])] if prof.loc_mapping[i] >= 0 else 0
        attr_idx = []
        if prof.loc_folded[i]:
            folded_attr = folded_attr or tables.attribute("pprof.location.is_folded", True)
            attr_idx.append(folded_attr)
        key = (mapping, int(prof.loc_address[i]), lines, tuple(attr_idx))

        def make(entry, mapping=mapping, address=int(prof.loc_address[i]), lines=lines, attr_idx=attr_idx):
            entry.mapping_index = mapping
            entry.address = address
            for f, ln, col in lines:
                entry.lines.add(function_index=f, line=ln, column=col)
            entry.attribute_indices.extend(attr_idx)

        loc_index.append(tables.add("location_table", key, make))

    # Per sample: stack index and label attributes (shared by every sample type's profile).
    loc_index = np.asarray(loc_index, dtype=np.int64)
    so = prof.stack_offsets
    stack_of = []
    for i in range(prof.n_samples):
        locs = tuple(loc_index[prof.stack_locs[so[i]:so[i + 1]]].tolist())
        stack_of.append(tables.add("stack_table", locs, lambda e, locs=locs: e.location_indices.extend(locs)))
    labels_of: list[list[int]] = [[] for _ in range(prof.n_samples)]
    for s, k, v, num, unit in zip(prof.label_sample.tolist(), prof.label_key, prof.label_str,
                                  prof.label_num.tolist(), prof.label_unit):
        value = v if v is not None else int(num)
        labels_of[s].append(tables.attribute(k, value, unit or ""))

    profile_attrs = [tables.attribute("pprof.profile.comment", c) for c in prof.comments]
    if map_index:
        # Every mapping of the process, used by a location or not, in the profile's order.
        profile_attrs.append(tables.attribute("pprof.profile.mapping_indices", tuple(map_index)))
    for name in _PROFILE_STRINGS:
        value = getattr(prof, name) or ""
        if value:
            profile_attrs.append(tables.attribute(f"pprof.profile.{name}", value))
    for col, st in enumerate(prof.sample_types):
        out = scope.profiles.add()
        out.sample_type.type_strindex = tables.string(st.type)
        out.sample_type.unit_strindex = tables.string(st.unit)
        out.time_unix_nano = prof.time_nanos
        out.duration_nano = prof.duration_nanos
        if prof.period_type is not None:
            out.period_type.type_strindex = tables.string(prof.period_type.type)
            out.period_type.unit_strindex = tables.string(prof.period_type.unit)
        out.period = prof.period
        out.profile_id = uuid.uuid4().bytes
        out.attribute_indices.extend(profile_attrs)
        values = prof.values[:, col].tolist()
        for i in range(prof.n_samples):
            sample = out.samples.add(stack_index=stack_of[i])
            sample.attribute_indices.extend(labels_of[i])
            sample.values.append(values[i])


def from_otlp(request) -> list[tuple]:
    """The pprof profiles in an ``ExportProfilesServiceRequest`` (message or bytes), as
    ``(Profile, resource_attributes)`` pairs. Tables come back in the request's dictionary
    order, so a profile sent alone comes back byte for byte."""
    from ..model import Mapping, Profile, ValueType

    pb, service, common = _modules()
    if isinstance(request, (bytes, bytearray)):
        msg = service.ExportProfilesServiceRequest()
        msg.ParseFromString(bytes(request))
        request = msg
    d = request.dictionary
    strings = list(d.string_table)

    def attr(i):
        a = d.attribute_table[i]
        which = a.value.WhichOneof("value")
        value = getattr(a.value, which) if which else None
        if which == "array_value":
            value = tuple(v.int_value for v in value.values)
        return strings[a.key_strindex], value, strings[a.unit_strindex]

    out = []
    for resource in request.resource_profiles:
        attrs = {kv.key: kv.value.string_value for kv in resource.resource.attributes}
        for scope in resource.scope_profiles:
            group = list(scope.profiles)
            if not group:
                continue
            first = group[0]
            n = len(first.samples)
            if any(len(p.samples) != n for p in group):
                raise PprofError("OTLP profiles of one scope have different sample counts; not one pprof profile")
            stacks = [d.stack_table[s.stack_index].location_indices for s in first.samples]
            loc_used = sorted({li for st in stacks for li in st})
            loc_pos = {li: i for i, li in enumerate(loc_used)}
            locs = [d.location_table[li] for li in loc_used]
            func_used = sorted({line.function_index for loc in locs for line in loc.lines})
            func_pos = {fi: i for i, fi in enumerate(func_used)}
            meta: dict[str, list] = {}
            for a in first.attribute_indices:
                key, value, _ = attr(a)
                meta.setdefault(key, []).append(value)
            map_used = list((meta.get("pprof.profile.mapping_indices") or [()])[0]) or sorted(
                {loc.mapping_index for loc in locs if loc.mapping_index})
            map_pos = {mi: i for i, mi in enumerate(map_used)}
            mappings = []
            for i, mi in enumerate(map_used):
                m = d.mapping_table[mi]
                extra = dict((k, v) for k, v, _ in (attr(a) for a in m.attribute_indices))
                mappings.append(Mapping(id=i + 1, memory_start=m.memory_start, memory_limit=m.memory_limit,
                                        file_offset=m.file_offset, filename=strings[m.filename_strindex],
                                        build_id=extra.get("pprof.mapping.build_id", ""),
                                        **{f: bool(extra.get(f"pprof.mapping.{f}", False)) for f in _BOOL_MAPPING_FLAGS}))
            funcs = [d.function_table[fi] for fi in func_used]
            lines = [line for loc in locs for line in loc.lines]
            folded = []
            for loc in locs:
                folded.append(any(attr(a)[0] == "pprof.location.is_folded" and attr(a)[1] for a in loc.attribute_indices))
            label_sample, label_key, label_str, label_num, label_unit = [], [], [], [], []
            for i, s in enumerate(first.samples):
                for a in s.attribute_indices:
                    key, value, unit = attr(a)
                    label_sample.append(i)
                    label_key.append(key)
                    label_str.append(value if isinstance(value, str) else None)
                    label_num.append(int(value) if not isinstance(value, str) else 0)
                    label_unit.append(unit)
            values = np.array([[p.samples[i].values[0] if p.samples[i].values else 0 for p in group]
                               for i in range(n)], dtype=np.int64).reshape(n, len(group))
            lengths = [len(st) for st in stacks]
            pt = first.period_type
            prof = Profile(
                sample_types=[ValueType(strings[p.sample_type.type_strindex], strings[p.sample_type.unit_strindex])
                              for p in group],
                values=values,
                stack_offsets=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
                stack_locs=np.array([loc_pos[li] for st in stacks for li in st], dtype=np.int64),
                loc_id=np.arange(1, len(locs) + 1, dtype=np.uint64),
                loc_mapping=np.array([map_pos[loc.mapping_index] if loc.mapping_index else -1 for loc in locs],
                                     dtype=np.int64),
                loc_address=np.array([loc.address for loc in locs], dtype=np.uint64),
                loc_folded=np.array(folded, dtype=bool),
                line_offsets=np.concatenate([[0], np.cumsum([len(loc.lines) for loc in locs])]).astype(np.int64),
                line_func=np.array([func_pos[line.function_index] for line in lines], dtype=np.int64),
                line_no=np.array([line.line for line in lines], dtype=np.int64),
                line_col=np.array([line.column for line in lines], dtype=np.int64),
                func_id=np.arange(1, len(funcs) + 1, dtype=np.uint64),
                func_name=_objects(strings[f.name_strindex] for f in funcs),
                func_system_name=_objects(strings[f.system_name_strindex] for f in funcs),
                func_filename=_objects(strings[f.filename_strindex] for f in funcs),
                func_start_line=np.array([f.start_line for f in funcs], dtype=np.int64),
                mappings=mappings,
                label_sample=np.array(label_sample, dtype=np.int64), label_key=_objects(label_key),
                label_str=_objects(label_str), label_num=np.array(label_num, dtype=np.int64),
                label_unit=_objects(label_unit),
                default_sample_type=(meta.get("pprof.profile.default_sample_type") or [""])[0],
                period_type=(ValueType(strings[pt.type_strindex], strings[pt.unit_strindex])
                             if first.HasField("period_type") else None),
                period=first.period, time_nanos=first.time_unix_nano, duration_nanos=first.duration_nano,
                comments=list(meta.get("pprof.profile.comment", [])),
                drop_frames=(meta.get("pprof.profile.drop_frames") or [""])[0],
                keep_frames=(meta.get("pprof.profile.keep_frames") or [""])[0],
                doc_url=(meta.get("pprof.profile.doc_url") or [""])[0],
            )
            out.append((prof, attrs))
    return out


def _objects(values) -> np.ndarray:
    values = list(values)
    arr = np.empty(len(values), dtype=object)
    arr[:] = values
    return arr


# ------------------------------------------------------------------ sending

def _items(profiles) -> list:
    from ..model import Profile

    if isinstance(profiles, Profile):
        return [(profiles, {})]
    return list(profiles)


def export_http(profiles, endpoint: str, *, headers: Mapping[str, str] | None = None, timeout: float = 30,
                development_version: int = DEVELOPMENT_VERSION, session=None):
    """POST the profiles to ``endpoint`` + ``/v1development/profiles`` (an OTLP/HTTP receiver,
    usually port 4318) as protobuf; returns the decoded ``ExportProfilesServiceResponse``."""
    import requests

    _, service, _ = _modules()
    body = to_otlp(_items(profiles)).SerializeToString()
    url = endpoint.rstrip("/") + HTTP_PATH if not endpoint.rstrip("/").endswith(HTTP_PATH) else endpoint
    send = {"Content-Type": "application/x-protobuf", HTTP_HEADER: str(development_version), **(headers or {})}
    try:
        resp = (session or requests).post(url, data=body, headers=send, timeout=timeout)
    except requests.exceptions.RequestException as exc:
        raise FetchError(f"OTLP export to {url}: {exc}") from None
    if resp.status_code != 200:
        raise FetchError(f"OTLP export to {url}: server response {resp.status_code} {resp.reason}: "
                         f"{resp.text.strip()[:300]}")
    answer = service.ExportProfilesServiceResponse()
    if resp.content:
        answer.ParseFromString(resp.content)
    return answer


def export_grpc(profiles, target: str, *, metadata: Sequence[tuple] = (), timeout: float = 30,
                development_version: int = DEVELOPMENT_VERSION, credentials=None):
    """Call ``ProfilesService/Export`` on ``target`` (``host:port``, usually 4317); insecure
    unless ``credentials`` (a grpc.ChannelCredentials) are given."""
    import grpc
    from opentelemetry.proto.collector.profiles.v1development import profiles_service_pb2_grpc as stubs

    request = to_otlp(_items(profiles))
    channel = grpc.secure_channel(target, credentials) if credentials else grpc.insecure_channel(target)
    try:
        stub = stubs.ProfilesServiceStub(channel)
        return stub.Export(request, timeout=timeout,
                           metadata=[(GRPC_METADATA, str(development_version)), *metadata])
    except grpc.RpcError as exc:
        raise FetchError(f"OTLP gRPC export to {target}: {exc.code().name}: {exc.details()}") from None
    finally:
        channel.close()
