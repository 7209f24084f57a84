"""`pyprofnb -top` must print what `go tool pprof -top` prints, on real Go profiles, for the
same flags: every row, units, rounding, percentages, order, (inline) markers, dropped counts."""
from __future__ import annotations

import contextlib
import io
import subprocess
import sys

import pytest

import pyprofnb
from pyprofnb.cli import main
from gotools import from_showing, run_go_pprof

FLAGS = [
    [], ["-cum"], ["-nodecount=7"], ["-nodecount=3", "-cum"], ["-lines"], ["-files"],
    ["-filefunctions"], ["-addresses"], ["-noinlines"], ["-noinlines", "-lines"], ["-focus=main"],
    ["-ignore=json"], ["-hide=runtime"], ["-show=main"], ["-show_from=main"],
    ["-prune_from=Marshal"], ["-unit=ms"], ["-unit=kB"], ["-nodefraction=0.1"], ["-nodefraction=0"],
    ["-edgefraction=0.5"], ["-relative_percentages", "-focus=fib"], ["-divide_by=3"],
    ["-drop_negative"], ["-mean"], ["-trim=false"], ["-compact_labels"],
    ["-tagfocus=worker=cpu"], ["-tagignore=alloc"], ["-tagfocus=tier=bulk", "-cum"], ["-taghide=worker"],
]
HEAP_FLAGS = [["-inuse_space"], ["-inuse_objects"], ["-alloc_space"], ["-alloc_objects", "-cum"],
              ["-sample_index=1"], ["-sample_index=alloc_space", "-lines"], ["-tagfocus=bytes=64kb:"],
              ["-tagignore=bytes=:1kb"], ["-mean", "-alloc_space"]]


def pyprofnb_cli(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pyprofnb", *args], capture_output=True, text=True, timeout=120)


def run_in_process(args: list[str]) -> str:
    """The command's output, run in this process (the subprocess path is tested below)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = main(args)
    assert status == 0
    return out.getvalue()


def compare(args, go_tmp):
    expected = run_go_pprof(["-top", *args], go_tmp)
    got = run_in_process(["-top", *args])
    assert from_showing(got) == from_showing(expected)
    return got


@pytest.mark.parametrize("kind", ["cpu", "heap", "allocs", "goroutine"])
@pytest.mark.parametrize("flags", FLAGS, ids=lambda f: " ".join(f) or "default")
def test_top_equals_go(kind, flags, go_profiles, go_tmp):
    compare([*flags, str(go_profiles[kind])], go_tmp)


@pytest.mark.parametrize("flags", HEAP_FLAGS, ids=lambda f: " ".join(f))
@pytest.mark.parametrize("kind", ["heap", "allocs"])
def test_heap_sample_indexes_equal_go(kind, flags, go_profiles, go_tmp):
    compare([*flags, str(go_profiles[kind])], go_tmp)


@pytest.mark.parametrize("mode", ["-base", "-diff_base"])
@pytest.mark.parametrize("flags", [[], ["-alloc_space"], ["-inuse_objects", "-cum"], ["-nodecount=5"], ["-lines"]],
                         ids=lambda f: " ".join(f) or "default")
def test_base_and_diff_base_equal_go(mode, flags, go_profiles, go_tmp):
    compare([*flags, mode, str(go_profiles["heap"]), str(go_profiles["heap2"])], go_tmp)
    compare([*flags, mode, str(go_profiles["allocs"]), str(go_profiles["allocs2"])], go_tmp)


def test_merged_sources_equal_go(go_profiles, go_tmp):
    compare([str(go_profiles["heap"]), str(go_profiles["heap2"])], go_tmp)


def _rows(text: str) -> dict[str, tuple]:
    """name -> (flat, flat%, cum, cum%) of a -top text (sum% depends on row order)."""
    rows = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 6 and parts[1].endswith("%") and parts[4].endswith("%"):
            rows[parts[5]] = (parts[0], parts[1], parts[3], parts[4])
    return rows


def test_legacy_heap_text_agrees_with_go_given_the_binary(go_profiles, go_service, go_tmp):
    """go tool pprof needs the binary to symbolize heap?debug=1 (and then folds inlined calls
    into their callers); pyprofnb reads the `#` lines. Totals and the rows of functions
    without inlined callees must agree."""
    _, binary = go_service
    expected = run_go_pprof(["-top", "-alloc_space", str(binary), str(go_profiles["heap_text"])], go_tmp)
    got = run_in_process(["-top", "-alloc_space", str(go_profiles["heap_text"])])
    assert from_showing(got).splitlines()[0].split(" of ")[-1] == from_showing(expected).splitlines()[0].split(" of ")[-1]
    ours, theirs = _rows(got), _rows(expected)
    # Cumulative shares agree; flat can move between a function and the runtime or inlined
    # frames that only the binary's symbol table shows.
    for name in ("main.sortWork", "main.encodeRecords", "main.keepBuffers", "main.allocWorker", "main.cpuWorker"):
        if name in theirs:
            assert abs(float(ours[name][3].rstrip("%")) - float(theirs[name][3].rstrip("%"))) <= 1.0, name


def test_full_header_equals_go(go_profiles, go_tmp):
    """File/Type/Time/Duration lines too, for the Go version installed here."""
    expected = run_go_pprof(["-top", str(go_profiles["cpu"])], go_tmp)
    got = pyprofnb_cli(["-top", str(go_profiles["cpu"])])
    assert got.stdout == expected


def test_load_top_agrees_with_text(go_profiles):
    prof = pyprofnb.load(str(go_profiles["heap"]))
    top = prof.top(sample_index="alloc_space", nodecount=10)
    text = prof.text("top", sample_index="alloc_space", nodecount=10)
    rows = text.splitlines()[-len(top):]
    assert [r.split("  ", 1)[-1].split("  ")[-1].removesuffix(" (inline)") for r in rows] == \
        [n for n in top.index]
    assert list(top.columns[:5]) == ["flat", "flat%", "sum%", "cum", "cum%"]
    assert top["flat"].sum() <= prof.total("alloc_space")
    assert top.attrs["total"] == prof.total("alloc_space")


def test_drop_frames_applied_like_go(tmp_path, go_tmp):
    """A profile's drop_frames/keep_frames prune stacks at load time, as go tool pprof does."""
    b = pyprofnb.ProfileBuilder([("samples", "count")])
    b.add([("malloc", "a.c", 1), ("alloc_helper", "a.c", 2), ("user", "u.py", 3), ("main", "u.py", 4)], [5])
    b.add([("malloc", "a.c", 1), ("main", "u.py", 4)], [2])
    b.add([("malloc", "a.c", 1)], [1])
    b.add([("malloc", "a.c", 1), ("free_path", "a.c", 9), ("alloc_helper", "a.c", 2), ("main", "u.py", 4)], [3])
    prof = b.build()
    prof.drop_frames, prof.keep_frames = "malloc|alloc_.*", "free_path"
    path = tmp_path / "drop.pb.gz"
    prof.save(path)
    text = compare([str(path)], go_tmp)
    assert "alloc_helper" not in text and "malloc" in text  # kept where nothing rootward survives
    assert "alloc_helper" in run_in_process(["-top", "-all_frames", str(path)])
