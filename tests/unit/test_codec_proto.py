"""profile.proto reading and writing: lossless round trips, go tool pprof reading what we
write, and bad input (truncated, corrupt, empty, not a profile, gzip bombs, dangling ids,
wrong value counts) answered with pyprofnb's own errors — fuzzed with hypothesis."""
from __future__ import annotations

import gzip

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pyprofnb
from pyprofnb import InvalidProfileError, PprofError, ProfileBuilder, ProfileFormatError
from pyprofnb.codec.proto import decode, encode, profile_message_class
from gotools import run_go_pprof


def sample_profile() -> pyprofnb.Profile:
    b = ProfileBuilder([("alloc_objects", "count"), ("alloc_space", "bytes")],
                       period_type=("space", "bytes"), period=524288, default_sample_type="alloc_space",
                       comments=["made by a test"])
    b.add([("handler", "/srv/app.py", 12, 10), ("main", "/srv/app.py", 40, 30)], [3, 3072],
          labels={"thread": "MainThread"}, num_labels={"bytes": (1024, "bytes")})
    b.add([("encode", "/srv/json.py", 7, 5), ("handler", "/srv/app.py", 13, 10), ("main", "/srv/app.py", 40, 30)],
          [-1, -512], labels={"thread": "worker-1"})
    b.add([], [1, 1])
    return b.build(time_nanos=1_700_000_000_000_000_000, duration_nanos=5_000_000_000)


def assert_same(a: pyprofnb.Profile, b: pyprofnb.Profile) -> None:
    assert a.sample_types == b.sample_types
    np.testing.assert_array_equal(a.values, b.values)
    np.testing.assert_array_equal(a.stack_offsets, b.stack_offsets)
    assert [a.func_name[a.line_func[a.line_offsets[l]]] for l in a.stack_locs] == \
        [b.func_name[b.line_func[b.line_offsets[l]]] for l in b.stack_locs]
    assert list(a.label_key) == list(b.label_key)
    assert list(a.label_str) == list(b.label_str)
    assert list(a.label_num) == list(b.label_num)
    assert list(a.label_unit) == list(b.label_unit)
    for field in ("default_sample_type", "period_type", "period", "time_nanos", "duration_nanos", "comments",
                  "drop_frames", "keep_frames", "doc_url"):
        assert getattr(a, field) == getattr(b, field), field


def test_round_trip_is_lossless():
    prof = sample_profile()
    again = decode(encode(prof))
    assert_same(prof, again)
    assert_same(again, decode(encode(again, compress=False)))


@pytest.mark.parametrize("kind", ["cpu", "heap", "allocs", "goroutine"])
def test_go_profiles_round_trip(kind, go_profiles, go_tmp, tmp_path):
    """Go's profile read and written again: go tool pprof reads ours and prints the same."""
    prof = pyprofnb.load(str(go_profiles[kind]))
    again = decode(encode(prof))
    assert_same(prof, again)
    ours = tmp_path / f"{kind}.pb.gz"
    ours.write_bytes(encode(prof))
    assert run_go_pprof(["-raw", str(ours)], go_tmp) == run_go_pprof(["-raw", str(go_profiles[kind])], go_tmp)


def test_go_reads_what_we_build(go_tmp, tmp_path):
    path = tmp_path / "ours.pb.gz"
    path.write_bytes(encode(sample_profile()))
    text = run_go_pprof(["-top", "-sample_index=alloc_space", str(path)], go_tmp)
    assert "handler" in text and "made by a test" in text
    assert text == pyprofnb.load(str(path)).text("top", sample_index="alloc_space")


def _varint(n: int) -> bytes:
    out = bytearray()
    n &= (1 << 64) - 1
    while True:
        if n < 0x80:
            out.append(n)
            return bytes(out)
        out.append((n & 0x7F) | 0x80)
        n >>= 7


def _field(number: int, payload: bytes | int) -> bytes:
    if isinstance(payload, int):
        return _varint(number << 3) + _varint(payload)
    return _varint((number << 3) | 2) + _varint(len(payload)) + payload


def test_unpacked_and_reordered_fields_are_read():
    """Go writes short repeated fields unpacked and the string table last; ids need not be
    dense. A profile written that way by hand reads back right."""
    strings = ["", "samples", "count", "main.leaf", "main.root", "x.go", "thread", "t1"]
    sample = _field(1, 30) + _field(1, 20) + _field(2, 7) + _field(3, _field(1, 6) + _field(2, 7))
    sample2 = _field(1, 20) + _field(2, -2 & ((1 << 64) - 1))
    loc30 = _field(1, 30) + _field(4, _field(1, 9) + _field(2, 11))
    loc20 = _field(1, 20) + _field(4, _field(1, 4) + _field(2, 3))
    fn9 = _field(1, 9) + _field(2, 3) + _field(4, 5)
    fn4 = _field(1, 4) + _field(2, 4) + _field(4, 5)
    raw = (_field(2, sample) + _field(5, fn9) + _field(4, loc30) + _field(1, _field(1, 1) + _field(2, 2))
           + _field(2, sample2) + _field(4, loc20) + _field(5, fn4)
           + b"".join(_field(6, s.encode()) for s in strings))
    prof = decode(raw)
    assert prof.values.tolist() == [[7], [-2]]
    frames = prof.frames_df()
    assert frames[frames["sample"] == 0]["function"].tolist() == ["main.leaf", "main.root"]
    assert frames[frames["sample"] == 0]["line"].tolist() == [11, 3]
    assert list(prof.label_key) == ["thread"] and list(prof.label_str) == ["t1"]
    top = prof.top()
    assert top.loc["main.leaf", "flat"] == 7 and top.loc["main.root", "cum"] == 5


@pytest.mark.parametrize("data, message", [
    (b"", "empty"),
    (b"\x1f\x8b\x08\x00garbage", "gzip"),
    (b"hello, this is not a profile at all \xff\xfe", "profile"),
    (b"\x0a\xff\xff\xff\xff\x0f", "not a valid profile"),
])
def test_bad_bytes_get_a_format_error(data, message):
    with pytest.raises(ProfileFormatError, match=message):
        decode(data)


def test_truncated_profiles_are_refused():
    data = encode(sample_profile(), compress=False)
    for cut in (1, len(data) // 3, len(data) - 1):
        with pytest.raises(PprofError):
            decode(data[:cut])
    gz = encode(sample_profile())
    with pytest.raises(ProfileFormatError, match="truncated or corrupt"):
        decode(gz[: len(gz) - 5])


def test_gzip_bomb_is_refused_without_inflating_it():
    bomb = gzip.compress(b"\0" * (64 << 20), compresslevel=9)
    with pytest.raises(ProfileFormatError, match="more than"):
        decode(bomb, max_bytes=1 << 20)


def test_dangling_ids_and_wrong_value_counts():
    cls = profile_message_class()
    msg = cls.FromString(encode(sample_profile(), compress=False))
    msg.sample[0].location_id.append(999)
    with pytest.raises(InvalidProfileError, match="location id 999"):
        decode(msg.SerializeToString())
    msg = cls.FromString(encode(sample_profile(), compress=False))
    msg.sample[1].value.append(5)
    with pytest.raises(InvalidProfileError, match="values"):
        decode(msg.SerializeToString())
    msg = cls.FromString(encode(sample_profile(), compress=False))
    msg.location[0].line[0].function_id = 77
    with pytest.raises(InvalidProfileError, match="function id 77"):
        decode(msg.SerializeToString())
    msg = cls.FromString(encode(sample_profile(), compress=False))
    msg.function[0].name = 10_000
    with pytest.raises(InvalidProfileError, match="string"):
        decode(msg.SerializeToString())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_fuzz_random_bytes_never_escape(data):
    try:
        decode(data)
    except PprofError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_fuzz_mutated_profiles_never_escape(data):
    raw = bytearray(encode(sample_profile(), compress=False))
    for _ in range(data.draw(st.integers(1, 6))):
        pos = data.draw(st.integers(0, len(raw) - 1))
        raw[pos] = data.draw(st.integers(0, 255))
    try:
        prof = decode(bytes(raw))
    except PprofError:
        return
    prof.validate()
    prof.text("top")


def test_cli_reports_bad_files_in_one_line(tmp_path, capsys):
    from pyprofnb.cli import main

    bad = tmp_path / "bad.pb.gz"
    bad.write_bytes(b"\x1f\x8b\x08\x00\x00")
    assert main(["-top", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("pyprofnb: ") and "\n" not in err and "gzip" in err
