"""Push profiles to Grafana Pyroscope: the HTTP ingest API and the connect Push API.

    >>> from pyprofnb.fleet import pyroscope
    >>> pyroscope.ingest(prof, "http://127.0.0.1:4040", app="api", labels={"env": "dev"})
    >>> pyroscope.push([(prof, {"service_name": "api"})], "http://127.0.0.1:4040")

- ``ingest``: ``POST /ingest?name=APP{k=v,...}&from=UNIX&until=UNIX&format=pprof`` with a
  multipart body whose ``profile`` field holds the pprof bytes (gzipped).
- ``push``: ``POST /push.v1.PusherService/Push`` (connect protocol, protobuf body):
  ``PushRequest{series: [RawProfileSeries{labels: [LabelPair{name, value}],
  samples: [RawSample{raw_profile, ID}]}]}``. The schema is built here from that field list
  (``push_message_classes``); Pyroscope's ``__name__`` label names the profile type.
"""
from __future__ import annotations

import re
import uuid
from typing import Iterable, Mapping

from ..errors import FetchError, OptionError

PUSH_PATH = "/push.v1.PusherService/Push"
INGEST_PATH = "/ingest"
_LABEL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")

# Pyroscope's names for the kinds of profile (its __name__ label).
PROFILE_NAMES = {"profile": "process_cpu", "heap": "memory", "allocs": "memory", "goroutine": "goroutine"}

_CLASSES = None


def push_message_classes():
    """(PushRequest, PushResponse) protobuf classes of ``push.v1``, built at run time from the
    documented fields: PushRequest.series = 1; RawProfileSeries.labels = 1, .samples = 2;
    LabelPair.name = 1, .value = 2; RawSample.raw_profile = 1, .ID = 2."""
    global _CLASSES
    if _CLASSES is None:
        from google.protobuf import descriptor_pb2, descriptor_pool

        try:
            from google.protobuf.message_factory import GetMessageClass
        except ImportError:  # pragma: no cover - old protobuf
            from google.protobuf.message_factory import MessageFactory

            _factory = MessageFactory()

            def GetMessageClass(desc):  # noqa: N802 - protobuf's name
                return _factory.GetPrototype(desc)

        F = descriptor_pb2.FieldDescriptorProto
        pool = descriptor_pool.DescriptorPool()
        types = descriptor_pb2.FileDescriptorProto(name="pyprofnb_types_v1.proto", package="types.v1", syntax="proto3")
        pair = types.message_type.add(name="LabelPair")
        pair.field.add(name="name", number=1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
        pair.field.add(name="value", number=2, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
        pool.Add(types)
        push = descriptor_pb2.FileDescriptorProto(name="pyprofnb_push_v1.proto", package="push.v1", syntax="proto3",
                                                  dependency=["pyprofnb_types_v1.proto"])
        sample = push.message_type.add(name="RawSample")
        sample.field.add(name="raw_profile", number=1, type=F.TYPE_BYTES, label=F.LABEL_OPTIONAL)
        sample.field.add(name="ID", number=2, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
        series = push.message_type.add(name="RawProfileSeries")
        series.field.add(name="labels", number=1, type=F.TYPE_MESSAGE, label=F.LABEL_REPEATED,
                         type_name=".types.v1.LabelPair")
        series.field.add(name="samples", number=2, type=F.TYPE_MESSAGE, label=F.LABEL_REPEATED,
                         type_name=".push.v1.RawSample")
        req = push.message_type.add(name="PushRequest")
        req.field.add(name="series", number=1, type=F.TYPE_MESSAGE, label=F.LABEL_REPEATED,
                      type_name=".push.v1.RawProfileSeries")
        push.message_type.add(name="PushResponse")
        pool.Add(push)
        _CLASSES = (GetMessageClass(pool.FindMessageTypeByName("push.v1.PushRequest")),
                    GetMessageClass(pool.FindMessageTypeByName("push.v1.PushResponse")))
    return _CLASSES


def _pprof_bytes(prof) -> bytes:
    from ..codec import encode

    return prof if isinstance(prof, (bytes, bytearray)) else encode(prof)


def _check_labels(labels: Mapping[str, str]) -> None:
    for key in labels:
        if not _LABEL_NAME.match(str(key)):
            raise OptionError(f"Pyroscope label name {key!r} must match [A-Za-z_][A-Za-z0-9_.]*")


def app_name(app: str, labels: Mapping[str, str] | None = None) -> str:
    """``app{k=v,...}``, the ``name`` parameter of /ingest (labels sorted)."""
    labels = dict(labels or {})
    _check_labels(labels)
    if not app or "{" in app or "}" in app:
        raise OptionError(f"Pyroscope application name must be non-empty without braces, got {app!r}")
    inner = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
    return f"{app}{{{inner}}}"


def ingest(prof, server: str, *, app: str, labels: Mapping[str, str] | None = None, start: int | None = None,
           end: int | None = None, spy_name: str = "pyprofnb", sample_rate: int | None = None,
           timeout: float = 30, session=None):
    """``POST /ingest?format=pprof`` one profile (a Profile or pprof bytes); ``start``/``end``
    are Unix seconds (default: the profile's own time and duration)."""
    import requests

    from ..codec import decode

    data = _pprof_bytes(prof)
    parsed = prof if not isinstance(prof, (bytes, bytearray)) else decode(bytes(prof))
    start = start if start is not None else (parsed.time_nanos // 10**9 if parsed.time_nanos else None)
    if start is None:
        import time

        start = int(time.time())
    end = end if end is not None else start + max(1, parsed.duration_nanos // 10**9)
    params = {"name": app_name(app, labels), "from": str(int(start)), "until": str(int(end)), "format": "pprof",
              "spyName": spy_name}
    if sample_rate:
        params["sampleRate"] = str(int(sample_rate))
    url = server.rstrip("/") + INGEST_PATH
    try:
        resp = (session or requests).post(url, params=params, files={"profile": ("profile.pprof", data,
                                                                                  "application/octet-stream")},
                                          timeout=timeout)
    except requests.exceptions.RequestException as exc:
        raise FetchError(f"Pyroscope ingest to {url}: {exc}") from None
    if resp.status_code // 100 != 2:
        raise FetchError(f"Pyroscope ingest to {url}: server response {resp.status_code} {resp.reason}: "
                         f"{resp.text.strip()[:300]}")
    return resp


def push_request(series: Iterable):
    """The PushRequest for ``(profile, labels)`` pairs: one series per distinct label set."""
    request_cls, _ = push_message_classes()
    request = request_cls()
    grouped: dict[tuple, list] = {}
    for prof, labels in series:
        labels = dict(labels or {})
        _check_labels(labels)
        grouped.setdefault(tuple(sorted(labels.items())), []).append(prof)
    for labels, profs in grouped.items():
        entry = request.series.add()
        for name, value in labels:
            entry.labels.add(name=str(name), value=str(value))
        for prof in profs:
            entry.samples.add(raw_profile=_pprof_bytes(prof), ID=str(uuid.uuid4()))
    return request


def push(series: Iterable, server: str, *, timeout: float = 30, headers: Mapping[str, str] | None = None,
         session=None):
    """Send ``(profile, labels)`` pairs with the connect Push API; labels should include
    ``service_name`` and, as Pyroscope names profile types, ``__name__`` (e.g. process_cpu)."""
    import requests

    _, response_cls = push_message_classes()
    body = push_request(series).SerializeToString()
    url = server.rstrip("/") + PUSH_PATH
    send = {"Content-Type": "application/proto", "Connect-Protocol-Version": "1", **(headers or {})}
    try:
        resp = (session or requests).post(url, data=body, headers=send, timeout=timeout)
    except requests.exceptions.RequestException as exc:
        raise FetchError(f"Pyroscope push to {url}: {exc}") from None
    if resp.status_code != 200:
        raise FetchError(f"Pyroscope push to {url}: server response {resp.status_code} {resp.reason}: "
                         f"{resp.text.strip()[:300]}")
    answer = response_cls()
    answer.ParseFromString(resp.content)
    return answer


def push_store(store, server: str, *, kind: str | None = None, start=None, end=None, **labels) -> int:
    """Push every stored profile matching the selection, with its labels (``job`` becomes
    ``service_name``); returns how many were sent."""
    listed = store.profiles(kind=kind, start=start, end=end, **labels)
    series = []
    for pid, kind_, lab in zip(listed["profile_id"], listed["kind"], listed["labels"]):
        lab = dict(lab)
        lab.setdefault("service_name", lab.get("job", "unknown"))
        lab["__name__"] = PROFILE_NAMES.get(kind_, kind_)
        series.append((store.profile(int(pid)), lab))
    if series:
        push(series, server)
    return len(series)
