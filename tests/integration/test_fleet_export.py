"""Exporters against receivers run here (no Pyroscope or OTel collector can be installed):
each receiver decodes what arrives with the official OTLP schema (opentelemetry-proto) or,
for Pyroscope's push API, with a wire-level reader of the documented field numbers, and the
profiles that come out must be the ones that went in."""
from __future__ import annotations

import email.parser
import email.policy
import http.server
import threading
import urllib.parse
from concurrent import futures

import grpc
import pytest
import requests
from opentelemetry.proto.collector.profiles.v1development import profiles_service_pb2 as otlp_service
from opentelemetry.proto.collector.profiles.v1development import profiles_service_pb2_grpc as otlp_grpc

import pyprofnb
import pyprofnb.store
from pyprofnb.codec import decode, encode
from pyprofnb.errors import FetchError
from pyprofnb.fleet import otlp, pyroscope
from pyprofnb.loadgen import run_load


@pytest.fixture(scope="module")
def profiles(demo_server, go_profiles):
    """Real profiles: the demo server's CPU (under load) and heap, and Go's."""
    run = run_load(demo_server + "/sendjson", duration=3, c=4, method="POST", background=True, progress=False)
    cpu = requests.get(f"{demo_server}/debug/pprof/profile?seconds=2", timeout=30).content
    run.wait()
    heap = requests.get(f"{demo_server}/debug/pprof/heap", timeout=30).content
    out = {"py_cpu": cpu, "py_heap": heap}
    for name in ("cpu", "heap", "goroutine"):
        out["go_" + name] = go_profiles[name].read_bytes()
    return out


def resolved(prof):
    """A profile's content independent of table order: per sample its values, labels and
    frames spelled out, plus every profile-level field."""
    frames = prof.frames()
    per_sample = [[] for _ in range(prof.n_samples)]
    for s, loc, func, lineno, col in zip(frames.sample.tolist(), frames.loc.tolist(), frames.func.tolist(),
                                         frames.lineno.tolist(), frames.column.tolist()):
        m = prof.loc_mapping[loc]
        mapping = prof.mappings[m] if m >= 0 else None
        per_sample[s].append((int(prof.loc_address[loc]), bool(prof.loc_folded[loc]),
                              mapping.key() + (mapping.has_functions,) if mapping else None,
                              (prof.func_name[func], prof.func_system_name[func], prof.func_filename[func],
                               int(prof.func_start_line[func])) if func >= 0 else None, lineno, col))
    labels = [[] for _ in range(prof.n_samples)]
    for s, k, v, n, u in zip(prof.label_sample.tolist(), prof.label_key, prof.label_str, prof.label_num.tolist(),
                             prof.label_unit):
        labels[s].append((k, v, n, u))
    samples = sorted((tuple(prof.values[i].tolist()), tuple(labels[i]), tuple(per_sample[i]))
                     for i in range(prof.n_samples))
    return (samples, [str(t) for t in prof.sample_types], str(prof.period_type), prof.period, prof.time_nanos,
            prof.duration_nanos, prof.comments, prof.drop_frames, prof.keep_frames, prof.doc_url,
            prof.default_sample_type)


# ------------------------------------------------------------------ OTLP

def test_pprof_to_otlp_to_pprof_loses_nothing(profiles):
    """Alone in a request, a profile comes back byte for byte; several sharing one
    dictionary come back with the same content."""
    parsed = {name: decode(data) for name, data in profiles.items()}
    for name, prof in parsed.items():
        request = otlp.to_otlp([(prof, {"service.name": name})])
        wire = request.SerializeToString()
        official = otlp_service.ExportProfilesServiceRequest.FromString(wire)  # the official schema reads it
        assert len(official.resource_profiles[0].scope_profiles[0].profiles) == len(prof.sample_types)
        (back, attrs), = otlp.from_otlp(wire)
        assert attrs == {"service.name": name}
        assert back.to_bytes() == prof.to_bytes(), name
    together = otlp.to_otlp([(p, {"service.name": n}) for n, p in parsed.items()])
    back = otlp.from_otlp(together.SerializeToString())
    assert [a["service.name"] for _, a in back] == list(parsed)
    for (prof, _), original in zip(back, parsed.values()):
        assert resolved(prof) == resolved(original)
    # The shared dictionary holds each function once.
    names = [(f.name_strindex, f.filename_strindex, f.system_name_strindex, f.start_line)
             for f in together.dictionary.function_table]
    assert len(names) == len(set(names))


def test_pprof_only_fields_travel_as_attributes():
    from pyprofnb.model import Mapping, ProfileBuilder  # noqa: F401

    prof = decode(encode(_odd_profile()))
    (back, _), = otlp.from_otlp(otlp.to_otlp([prof]).SerializeToString())
    assert back.to_bytes() == prof.to_bytes()
    assert back.comments == ["made by a test", "second comment"] and back.drop_frames == "runtime\\..*"
    assert back.mappings[0].build_id == "abc123" and back.mappings[0].has_functions
    assert bool(back.loc_folded[0]) and back.label_unit.tolist().count("bytes") == 1


def _odd_profile():
    """A small profile using the pprof fields OTLP has no field for."""
    import numpy as np

    from pyprofnb.model import Mapping, Profile, ValueType

    return Profile(
        sample_types=[ValueType("alloc_objects", "count"), ValueType("alloc_space", "bytes")],
        values=np.array([[1, 100], [0, 0], [3, 300]]), stack_offsets=[0, 2, 3, 5], stack_locs=[0, 1, 1, 1, 0],
        loc_id=[1, 2], loc_mapping=[0, -1], loc_address=[0x401000, 0], loc_folded=[True, False],
        line_offsets=[0, 2, 3], line_func=[0, 1, 1], line_no=[10, 20, 30], line_col=[1, 0, 2],
        func_id=[1, 2], func_name=["inner", "outer"], func_system_name=["inner_sys", "outer"],
        func_filename=["a.py", "b.py"], func_start_line=[9, 19],
        mappings=[Mapping(1, 0x400000, 0x500000, 0, "/bin/app", "abc123", True, True, False, False)],
        label_sample=[0, 0, 2], label_key=["thread", "bytes", "thread"], label_str=["main", None, ""],
        label_num=[0, 4096, 0], label_unit=["", "bytes", ""],
        default_sample_type="alloc_space", period_type=ValueType("space", "bytes"), period=524288,
        time_nanos=1_700_000_000_000_000_000, duration_nanos=5_000_000_000,
        comments=["made by a test", "second comment"], drop_frames="runtime\\..*", keep_frames="keep",
        doc_url="https://example.invalid/doc")


class _Recorder(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, handler):
        super().__init__(("127.0.0.1", 0), handler)
        self.seen = []
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}"


class _OTLPHandler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        version = self.headers.get(otlp.HTTP_HEADER)
        if self.path != "/v1development/profiles" or self.headers["Content-Type"] != "application/x-protobuf":
            return self._answer(404, b"not an OTLP profiles request")
        if version != "1":  # refuse revisions we do not know, before decoding (as the proposal asks)
            return self._answer(400, f"unsupported profiles development version {version!r}".encode())
        self.server.seen.append(otlp_service.ExportProfilesServiceRequest.FromString(body))
        self._answer(200, otlp_service.ExportProfilesServiceResponse().SerializeToString())

    def _answer(self, status, body):
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_otlp_http_export(profiles):
    receiver = _Recorder(_OTLPHandler)
    try:
        prof = decode(profiles["py_cpu"])
        otlp.export_http([(prof, {"service.name": "api"})], receiver.url)
        (back, attrs), = otlp.from_otlp(receiver.seen[0])
        assert back.to_bytes() == prof.to_bytes() and attrs == {"service.name": "api"}
        with pytest.raises(FetchError, match="400 .*unsupported profiles development version '2'"):
            otlp.export_http(prof, receiver.url, development_version=2)
        assert len(receiver.seen) == 1
    finally:
        receiver.shutdown()


class _OTLPService(otlp_grpc.ProfilesServiceServicer):
    def __init__(self):
        self.seen = []

    def Export(self, request, context):  # noqa: N802 - the service's name
        versions = [v for k, v in context.invocation_metadata() if k == otlp.GRPC_METADATA]
        if versions != ["1"]:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"unsupported profiles development version {versions}")
        self.seen.append(request)
        return otlp_service.ExportProfilesServiceResponse()


def test_otlp_grpc_export(profiles):
    service = _OTLPService()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    otlp_grpc.add_ProfilesServiceServicer_to_server(service, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        items = [(decode(profiles[n]), {"service.name": n}) for n in ("py_heap", "go_heap")]
        otlp.export_grpc(items, f"127.0.0.1:{port}")
        back = otlp.from_otlp(service.seen[0])
        assert [resolved(p) for p, _ in back] == [resolved(p) for p, _ in items]
        with pytest.raises(FetchError, match="INVALID_ARGUMENT"):
            otlp.export_grpc(items, f"127.0.0.1:{port}", development_version=7)
    finally:
        server.stop(0)


# ------------------------------------------------------------------ Pyroscope

class _IngestHandler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers["Content-Length"])
        body = self.rfile.read(length)
        url = urllib.parse.urlsplit(self.path)
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + self.headers["Content-Type"].encode() + b"\r\n\r\n" + body)
        parts = {p.get_param("name", header="content-disposition"): p.get_payload(decode=True)
                 for p in message.iter_parts()}
        self.server.seen.append((url.path, dict(urllib.parse.parse_qsl(url.query)), parts, self.headers))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_pyroscope_ingest(profiles):
    receiver = _Recorder(_IngestHandler)
    try:
        prof = decode(profiles["py_cpu"])
        pyroscope.ingest(prof, receiver.url, app="api.cpu", labels={"env": "dev", "instance": "a:1"})
        path, query, parts, _ = receiver.seen[0]
        assert path == "/ingest" and query["format"] == "pprof"
        assert query["name"] == "api.cpu{env=dev,instance=a:1}"
        assert int(query["from"]) == prof.time_nanos // 10**9
        assert int(query["until"]) - int(query["from"]) == prof.duration_nanos // 10**9
        assert decode(parts["profile"]).to_bytes() == prof.to_bytes()
        with pytest.raises(pyprofnb.OptionError, match="label name"):
            pyroscope.ingest(prof, receiver.url, app="api", labels={"bad-name": "x"})
    finally:
        receiver.shutdown()


def _wire_fields(data: bytes) -> list[tuple[int, object]]:
    """(field number, value) pairs of a protobuf message: varints as ints, length-delimited
    fields as bytes. Written from the wire format, independent of any schema."""
    out, pos = [], 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 2:
            size, pos = _varint(data, pos)
            value, pos = data[pos:pos + size], pos + size
        else:
            raise AssertionError(f"unexpected wire type {wire}")
        out.append((number, value))
    return out


def _varint(data, pos):
    shift = result = 0
    while True:
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


class _PushHandler(_IngestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.seen.append((self.path, self.headers["Content-Type"], body))
        self.send_response(200)
        self.send_header("Content-Type", "application/proto")
        self.send_header("Content-Length", "0")
        self.end_headers()


def test_pyroscope_push_api(profiles, tmp_path):
    """store -> Pyroscope's connect Push API: one series per label set, each sample the pprof
    bytes of a stored profile."""
    store = pyprofnb.store.open(tmp_path / "s", create=True)
    store.add(profiles["py_cpu"], labels={"job": "api", "instance": "a:1"}, kind="profile")
    store.add(profiles["py_heap"], labels={"job": "api", "instance": "a:1"}, kind="heap")
    receiver = _Recorder(_PushHandler)
    try:
        assert pyroscope.push_store(store, receiver.url) == 2
        path, content_type, body = receiver.seen[0]
        assert path == "/push.v1.PusherService/Push" and content_type == "application/proto"
        series = [value for number, value in _wire_fields(body) if number == 1]
        assert len(series) == 2
        got = {}
        for entry in series:
            fields = _wire_fields(entry)
            labels = {}
            for number, value in fields:
                if number == 1:
                    pair = dict(_wire_fields(value))
                    labels[pair[1].decode()] = pair[2].decode()
            samples = [dict(_wire_fields(v)) for n, v in fields if n == 2]
            assert len(samples) == 1 and len(samples[0][2]) == 36  # ID: a UUID
            got[labels["__name__"]] = (labels, decode(samples[0][1]))
        assert set(got) == {"process_cpu", "memory"}
        assert got["process_cpu"][0]["service_name"] == "api" and got["memory"][0]["instance"] == "a:1"
        assert got["process_cpu"][1].to_bytes() == profiles["py_cpu"]
        assert got["memory"][1].to_bytes() == profiles["py_heap"]
    finally:
        receiver.shutdown()
    with pytest.raises(FetchError, match="Pyroscope push to .*cannot|Pyroscope push to"):
        pyroscope.push([(decode(profiles["py_heap"]), {"service_name": "x"})],
                       receiver.url, timeout=2)
