"""pyprofnb.codec.legacy_text: Go's debug=1 formats, written and read."""
from __future__ import annotations

import math
import re

import pytest

from pyprofnb.codec import legacy_text as lt
from pyprofnb.errors import ProfileFormatError
from pyprofnb.model.profile import ProfileBuilder

GO_HEAP = """heap profile: 3: 3145728 [12: 4194305] @ heap/1048576
2: 2097152 [8: 2621440] @ 0x4a1b2f 0x4a1e90 0x43d1c7
#	0x4a1b2e	main.makeBuffers+0x4e	/src/app/main.go:21
#	0x4a1e8f	main.main+0x2f		/src/app/main.go:35
#	0x43d1c6	runtime.main+0x2a6	/usr/local/go/src/runtime/proc.go:272

1: 1048576 [4: 1572864] @ 0x4a1c10 0x4a1e95 0x43d1c7
#	0x4a1c0f	main.cache+0x30		/src/app/main.go:28

# runtime.MemStats
# Alloc = 3201024
# MaxRSS = 15204352
"""


def test_tabwrite_matches_gos_layout():
    lines = ["#\t0x4a1b2e\tmain.makeBuffers+0x4e\t/src/app/main.go:21", "#\t0x4a1e8f\tmain.main+0x2f\t/src/app/main.go:35"]
    assert lt.tabwrite(lines) == [
        "#\t0x4a1b2e\tmain.makeBuffers+0x4e\t/src/app/main.go:21",
        "#\t0x4a1e8f\tmain.main+0x2f\t\t/src/app/main.go:35",
    ]


def test_parse_go_heap_text_like_pprof():
    prof = lt.parse_heap_text(GO_HEAP)
    assert [t.type for t in prof.sample_types] == ["alloc_objects", "alloc_space", "inuse_objects", "inuse_space"]
    assert str(prof.period_type) == "space/bytes" and prof.period == 524288  # heap/R2 is 2x the rate
    scale = 1 / (1 - math.exp(-(2621440 / 8) / 524288))
    assert prof.values[0].tolist()[:2] == [int(8 * scale), int(2621440 * scale)]
    assert prof.label_key.tolist() == ["bytes", "bytes"] and prof.label_num.tolist() == [1048576, 1048576]
    # Leaf address as written, callers moved back onto the call (-1).
    assert prof.loc_address[prof.stack_locs[:3]].tolist() == [0x4a1b2f, 0x4a1e8f, 0x43d1c6]
    assert "main.makeBuffers" in prof.func_name.tolist()  # the leaf is named from its "#" line at pc-1
    assert "main.main" in prof.func_name.tolist()
    plain = lt.parse_heap_text(GO_HEAP, symbolize=False)
    assert len(plain.func_id) == 0 and plain.totals() == prof.totals()


@pytest.mark.parametrize("header,columns", [
    ("heap profile: 0: 0 [0: 1] @ heap/0", 4),
    ("heap profile: 1: 10 [1: 10] @ heap/1048576", 2),
    ("heap profile:   1:   10 [  2:   20] @ heap_v2/524288", 4),
    ("heap profile: 1: 10 [ 2: 20] @ heapprofile", 4),
])
def test_header_variants(header, columns):
    prof = lt.parse_heap_text(header + "\n1: 10 [2: 20] @ 0x1 0x2\n" if columns == 4 else header + "\n1: 10 [1: 10] @ 0x1\n")
    assert len(prof.sample_types) == columns


def test_bad_input_names_the_problem():
    with pytest.raises(ProfileFormatError, match="not a heap record"):
        lt.parse_heap_text("heap profile: 1: 1 [1: 2] @ heap/2\nbogus line\n")
    with pytest.raises(ProfileFormatError, match="not a profile.proto and not a legacy text"):
        lt.parse(b"hello")


def heap_profile(rate=512 * 1024):
    b = ProfileBuilder([("alloc_objects", "count"), ("alloc_space", "bytes"), ("inuse_objects", "count"),
                        ("inuse_space", "bytes")], period_type=("space", "bytes"), period=rate)
    w = 1 / -math.expm1(-4096 / rate)
    b.add([("make", "/app/m.py", 12, 10), ("main", "/app/m.py", 40, 30)], [round(10 * w), round(40960 * w), round(5 * w), round(20480 * w)])
    b.add([("keep", "/app/m.py", 22, 20), ("main", "/app/m.py", 41, 30)], [round(w), round(4096 * w), 0, 0])
    return b.build()


def test_heap_text_round_trip():
    prof = heap_profile()
    text = lt.format_heap_text(prof, [("Alloc", 1), ("MaxRSS", 7), ("NumGC", 2)])
    io_, ib, ao, ab, r2 = map(int, re.match(r"heap profile: (\d+): (\d+) \[(\d+): (\d+)\] @ heap/(\d+)$",
                                            text.splitlines()[0]).groups())
    # Raw sampled counts again (5 and 11 objects of ~4 KiB), the rate doubled.
    assert (io_, ao, r2) == (5, 11, 1048576) and ib == pytest.approx(20480, rel=0.01) and ab == pytest.approx(45056, rel=0.01)
    assert text.rstrip().splitlines()[-3:] == ["# Alloc = 1", "# NumGC = 2", "# MaxRSS = 7"]
    back = lt.parse_heap_text(text)
    for name, value in prof.totals().items():
        assert back.totals()[name] == pytest.approx(value, rel=0.01)
    assert {"make", "keep", "main"} <= set(back.func_name.tolist())


def test_alloc_bytes_quirk():
    b = ProfileBuilder([("alloc_objects", "count"), ("alloc_space", "bytes"), ("inuse_objects", "count"),
                        ("inuse_space", "bytes")], period_type=("space", "bytes"), period=1)
    b.add([("f", "/a.py", 2, 1)], [1, 100, 1, 100])
    text = lt.format_heap_text(b.build())
    assert text.startswith("heap profile: 1: 100 [1: 101] @ heap/2\n")
    assert len(lt.parse_heap_text(text).sample_types) == 4


def test_count_text_round_trip():
    b = ProfileBuilder([("goroutine", "count")], period_type=("goroutine", "count"), period=1)
    b.add([("wait", "/a.py", 3, 1), ("main", "/a.py", 9, 8)], [3], labels={"k": "v"})
    b.add([("main", "/a.py", 9, 8)], [1])
    text = lt.format_count_text(b.build(), "goroutine")
    lines = text.splitlines()
    assert lines[0] == "goroutine profile: total 4"
    assert lines[1].startswith("3 @ 0x") and lines[2] == '# labels: {"k":"v"}'
    back = lt.parse(text)
    assert back.totals() == {"goroutine": 4} and str(back.period_type) == "goroutine/count"
    assert set(back.func_name.tolist()) == {"wait", "main"}
