"""The readers never crash, whatever they are fed (issue 16): fuzzed profile.proto (raw and
gzipped), fuzzed legacy text, and the crash inputs found by longer campaigns kept as
regression cases. Every input ends in a Profile or a PprofError; the command answers bad
input with one line and exit status 2.

The fuzz tests run for a bounded time in ``make test``; a longer campaign:

    .venv/bin/python tests/test_safety_fuzz.py 600      # seconds; prints any crash input
"""
from __future__ import annotations

import gzip
import io
import os
import random
import subprocess
import sys
import time
from contextlib import redirect_stderr, redirect_stdout

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, os.path.dirname(os.path.dirname(__file__)))

import pyprofnb  # noqa: E402
from pyprofnb import PprofError  # noqa: E402
from pyprofnb.codec.proto import encode  # noqa: E402
from pyprofnb.model.profile import ProfileBuilder  # noqa: E402

# Small limits, so a fuzzed input that asks for much is refused quickly rather than built.
LIMITS = dict(max_bytes=8 << 20, memory_budget=64 << 20)


def seed_profiles() -> list[bytes]:
    b = ProfileBuilder([("alloc_objects", "count"), ("alloc_space", "bytes")], period_type=("space", "bytes"),
                       period=524288, default_sample_type="alloc_space", comments=["seed"])
    b.add([("handler", "/srv/app.py", 12, 10), ("main", "/srv/app.py", 40, 30)], [3, 3072],
          labels={"thread": "MainThread"}, num_labels={"bytes": (1024, "bytes")})
    b.add([("encode", "/srv/json.py", 7, 5), ("handler", "/srv/app.py", 13, 10)], [-1, -512],
          labels={"thread": "worker-1"})
    heap = b.build(time_nanos=1_700_000_000_000_000_000, duration_nanos=5_000_000_000)
    c = ProfileBuilder([("samples", "count"), ("cpu", "nanoseconds")], period_type=("cpu", "nanoseconds"),
                       period=10_000_000)
    for i in range(6):
        c.add([(f"f{i}", "/a.py", i + 1), ("main", "/a.py", 1)], [i + 1, (i + 1) * 10_000_000])
    cpu = c.build(duration_nanos=10**9)
    cpu.drop_frames, cpu.keep_frames = "f[0-2]", "f1"
    return [encode(heap, compress=False), encode(cpu, compress=False)]


HEAP_TEXT = b"""heap profile: 3: 3072 [5: 5120] @ heap/1048576
1: 1024 [2: 2048] @ 0x4a21f3 0x470c21 0x0
#\t0x4a21f2\tmain.alloc+0x52\t/src/main.go:48
#\t0x470c20\truntime.goexit+0x0\t/go/asm.s:1

2: 2048 [3: 3072] @ 0x4a21f3 0x40a8c5
#\t0x40a8c4\tmain.work+0x40\t/src/main.go:40
"""
COUNT_TEXT = b"""threadcreate profile: total 3
2 @ 0x43e5ae 0x40a8c5 0x0 0x0
#\t0x40a8c4\tmain.main+0x40\t/src/app/main.go:40

1 @
"""


def check(data: bytes) -> None:
    """The property: a Profile (that reports can use) or a PprofError, nothing else."""
    try:
        prof = pyprofnb.load(data, **LIMITS)
    except PprofError:
        return
    for kind in ("top", "traces"):
        try:
            prof.text(kind, nodecount=5)
        except PprofError:
            pass


def mutate(data: bytes, rng: random.Random, seeds: list[bytes]) -> bytes:
    """One to eight byte-level mutations: flips, interesting bytes, inserts, deletes,
    truncation, splices of another seed, duplicated spans, and varint-shaped runs."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        op = rng.randrange(9)
        pos = rng.randrange(len(buf) + 1) if buf else 0
        if op == 0 and buf:
            buf[min(pos, len(buf) - 1)] ^= 1 << rng.randrange(8)
        elif op == 1 and buf:
            buf[min(pos, len(buf) - 1)] = rng.choice([0, 1, 0x7F, 0x80, 0xFF, 0x0A, 0x12, 0x22, 0x08, 0x10])
        elif op == 2:
            buf[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif op == 3 and buf:
            del buf[pos:pos + rng.randint(1, 16)]
        elif op == 4:
            del buf[pos:]
        elif op == 5:
            other = rng.choice(seeds)
            a = rng.randrange(len(other) + 1)
            buf[pos:pos] = other[a:a + rng.randint(1, 64)]
        elif op == 6 and buf:
            a = rng.randrange(len(buf))
            span = bytes(buf[a:a + rng.randint(1, 32)])
            buf[pos:pos] = span * rng.randint(1, 50)
        elif op == 7:
            buf[pos:pos] = b"\xff" * rng.randint(1, 11) + b"\x01"  # long or overlong varints
        else:
            text = rng.choice([b"18446744073709551616", b"-1", b"99999999999999999999", b"0x", b"0x0", b"\xc2\xb2",
                               b"\n", b" @ ", b": ", b"[", b"]", b"#\t0x1\tf\t:9\n", b"heap_v2/", b"@ heap/"])
            buf[pos:pos] = text
    return bytes(buf)


# ------------------------------------------------------------------ bounded fuzz tests

SEEDS = seed_profiles() + [HEAP_TEXT, COUNT_TEXT]


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from(range(len(SEEDS))), st.booleans())
def test_fuzzed_inputs_give_a_profile_or_a_pprof_error(seed, which, gz):
    data = mutate(SEEDS[which], random.Random(seed), SEEDS)
    check(gzip.compress(data, mtime=0) if gz else data)


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(st.lists(st.tuples(st.integers(1, 20), st.sampled_from([0, 1, 2, 5]), st.integers(0, 2**64 - 1),
                          st.binary(max_size=24)), max_size=40))
def test_generated_wire_messages_never_crash(fields):
    """Messages made field by field (any number, any wire type, any value), nested once."""
    def varint(v):
        out = bytearray()
        while True:
            out.append((v & 0x7F) | (0x80 if v > 0x7F else 0))
            v >>= 7
            if not v:
                return bytes(out)

    def encode_fields(items):
        out = b""
        for number, wire, value, payload in items:
            out += varint(number << 3 | wire)
            out += {0: varint(value), 1: value.to_bytes(8, "little"), 5: (value & 0xFFFFFFFF).to_bytes(4, "little"),
                    2: varint(len(payload)) + payload}[wire]
        return out

    inner = encode_fields(fields[len(fields) // 2:])
    outer = [(n, w, v, inner if w == 2 and n in (1, 2, 3, 4, 5, 11) else p) for n, w, v, p in fields[: len(fields) // 2]]
    check(encode_fields(outer))


# ------------------------------------------------------------------ crafted inputs

def _varint(v: int) -> bytes:
    out = bytearray()
    while True:
        out.append((v & 0x7F) | (0x80 if v > 0x7F else 0))
        v >>= 7
        if not v:
            return bytes(out)


CRAFTED = {
    # legacy text: numbers past 64 bits, other scripts' digits, wide addresses, huge periods
    "heap count past int64": b"heap profile: 1: 1 [1: 1] @ heap/2\n99999999999999999999: 1 [1: 1] @ 0x1\n",
    "heap 5000-digit count": b"heap profile: 1: 1 [1: 1] @ heap/2\n" + b"9" * 5000 + b": 1 [1: 1] @ 0x1\n",
    "heap period past int64": b"heap profile: 1: 1 [1: 1] @ heap/" + b"9" * 30 + b"\n1: 1 [1: 1] @ 0x1\n",
    "heap rate too large": b"heap profile: 1: 1 [1: 1] @ heap_v2/9223372036854775807\n1: 1 [1: 1] @ 0x1\n",
    "heap address past 64 bits": b"heap profile: 1: 1 [1: 1] @ heap/2\n1: 1 [1: 1] @ 0x1ffffffffffffffff\n",
    "heap unicode digits": "heap profile: 1: 1 [1: 1] @ heap/2\n\u0663: 1 [1: 1] @ 0x1\n".encode(),
    "heap long digit line": b"heap profile: 1: 1 [1: 1] @ heap/2\n" + b"1" * 200_000 + b"\n",
    "count past int64": b"goroutine profile: total 1\n99999999999999999999 @ 0x1\n",
    "count zero addresses": b"threadcreate profile: total 2\n1 @ 0x0 0x0\n1 @ 0xffffffffffffffff 0x0\n",
    "frame line number huge": b"goroutine profile: total 1\n1 @ 0x2 0x3\n#\t0x1\tf+0x1\t/a.go:" + b"9" * 5000 + b"\n",
    # profile.proto: out-of-range indexes and ids, overlong varints, huge declared lengths
    "string index past the table": b"\x32\x00" + b"\x0a\x04\x08\x05\x10\x06",
    "negative string index": b"\x32\x00" + b"\x0a\x0b\x08" + _varint(2**64 - 1) + b"\x10\x00",
    "overlong varint": b"\x32\x00\x48" + b"\xff" * 11 + b"\x01",
    "length past the end": b"\x32\x00\x12" + _varint(2**40) + b"\x08\x01",
    "sample refers to missing location": b"\x32\x00\x0a\x00\x12\x04\x08\x07\x10\x01",
    "wrong value count": b"\x32\x00\x0a\x00\x0a\x00\x12\x02\x10\x01",
    "group wire type": b"\x32\x00\x0b\x0c",
    "samples without sample types": b"\x32\x00\x12\x02\x10\x01",
    "invalid utf-8 string": b"\x32\x00\x32\x02\xff\xfe\x0a\x04\x08\x01\x10\x01",
    "drop_frames catastrophic": None,  # built below
    "drop_frames invalid": None,
    "million empty samples": b"\x32\x00\x0a\x00" + b"\x12\x02\x10\x01" * 1_000_000,
}


def _with_drop_frames(pattern: str) -> bytes:
    c = ProfileBuilder([("samples", "count")])
    c.add([("a" * 5000 + "!", "/a.py", 1)], [1])
    prof = c.build()
    prof.drop_frames = pattern
    return encode(prof)


CRAFTED["drop_frames catastrophic"] = _with_drop_frames("(a+)+b")
CRAFTED["drop_frames invalid"] = _with_drop_frames("(?<=x)y")


@pytest.mark.parametrize("name", list(CRAFTED))
def test_crafted_inputs(name):
    t0 = time.monotonic()
    check(CRAFTED[name])
    assert time.monotonic() - t0 < 10, "a crafted input must not take long"


def test_million_empty_samples_is_refused_by_the_budget():
    with pytest.raises(pyprofnb.ProfileFormatError, match="memory budget"):
        pyprofnb.load(CRAFTED["million empty samples"], memory_budget=8 << 20)
    assert len(pyprofnb.load(CRAFTED["million empty samples"], memory_budget=1 << 30)) == 1_000_000


def test_catastrophic_drop_frames_returns_at_once():
    t0 = time.monotonic()
    prof = pyprofnb.load(CRAFTED["drop_frames catastrophic"])
    assert len(prof) == 1 and time.monotonic() - t0 < 5


def test_gzip_bomb_is_refused_before_it_is_expanded():
    # 1 GiB of zeros compresses to about 1 MB and states its size in the trailer.
    z = io.BytesIO()
    with gzip.GzipFile(fileobj=z, mode="wb", compresslevel=9, mtime=0) as gz:
        block = bytes(1 << 24)
        for _ in range(64):
            gz.write(block)
    bomb = z.getvalue()
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.monotonic()
    with pytest.raises(pyprofnb.ProfileFormatError, match="limit"):
        pyprofnb.load(bomb, max_bytes=64 << 20)
    assert time.monotonic() - t0 < 2
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200 * 1024  # KiB: under 200 MB grown
    # A lying trailer is caught as soon as the data expands past the limit.
    liar = bomb[:-4] + (1000).to_bytes(4, "little")
    with pytest.raises(pyprofnb.ProfileFormatError, match="limit"):
        pyprofnb.load(liar, max_bytes=64 << 20)


# ------------------------------------------------------------------ the command

@pytest.mark.parametrize("name", ["heap count past int64", "count zero addresses", "length past the end",
                                  "drop_frames invalid", "group wire type"])
def test_command_answers_bad_input_with_one_line_and_status_2(name, tmp_path):
    from pyprofnb.cli import main

    path = tmp_path / "bad.prof"
    path.write_bytes(CRAFTED[name])
    err, out = io.StringIO(), io.StringIO()
    with redirect_stderr(err), redirect_stdout(out):
        status = main(["-top", str(path)])
    if status == 0:  # a readable input (Go's zero addresses): a report, no error
        assert "flat%" in out.getvalue() and err.getvalue() == ""
        return
    assert status == 2
    lines = err.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pyprofnb: ") and "Traceback" not in err.getvalue()


def test_command_in_a_real_process(tmp_path):
    path = tmp_path / "bad.prof"
    path.write_bytes(CRAFTED["heap 5000-digit count"])
    r = subprocess.run([sys.executable, "-m", "pyprofnb", "-top", str(path)], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2 and len(r.stderr.splitlines()) == 1, r.stderr
    assert str(path) in r.stderr and "64-bit" in r.stderr


# ------------------------------------------------------------------ a longer campaign

def campaign(seconds: float, seed: int = 0) -> int:
    """Mutate the seeds for ``seconds``; print and count the inputs that raise anything
    other than a PprofError."""
    rng = random.Random(seed)
    crashes, runs, t_end = 0, 0, time.monotonic() + seconds
    corpus = list(SEEDS)
    while time.monotonic() < t_end:
        data = mutate(rng.choice(corpus), rng, corpus)
        if rng.random() < 0.2:
            data = gzip.compress(data, mtime=0)
        runs += 1
        try:
            check(data)
        except Exception as exc:  # noqa: BLE001 - that is what we are looking for
            crashes += 1
            print(f"CRASH {type(exc).__name__}: {str(exc)[:200]}\n  input: {data[:400]!r}", flush=True)
    print(f"{runs} inputs, {crashes} crashes in {seconds:g} s")
    return crashes


if __name__ == "__main__":
    sys.exit(1 if campaign(float(sys.argv[1]) if len(sys.argv) > 1 else 60) else 0)
