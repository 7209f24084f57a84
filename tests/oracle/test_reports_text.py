"""Every text report other than -top must print what `go tool pprof` prints, on real Go
profiles (CPU, heap with several sample indexes, allocs, goroutine) and on a Python profile,
for the same flags; and each report's DataFrame must agree with its text."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from gotools import run_go_pprof
from pyprofnb.codec import proto as pprof_format
from pyprofnb.errors import OptionError, PprofError
from pyprofnb.options import parse_args
from pyprofnb.model.profile import ProfileBuilder, diff, subtract
from pyprofnb.report import make_report, render_text

REPO = Path(__file__).resolve().parents[2]
UNITS_PY = REPO / "pyprofnb" / "units.py"


def load(path) -> object:
    return pprof_format.decode(Path(path).read_bytes())


def ours(args: list[str]) -> str:
    """Our report for a go tool pprof command line (report flag, options, -base/-diff_base)."""
    cmd = parse_args(args)
    prof = load(cmd.sources[0])
    if cmd.base:
        prof = subtract(prof, load(cmd.base[0]))
    if cmd.diff_base:
        prof = diff(prof, load(cmd.diff_base[0]))
    return render_text(prof, cmd.report, cmd.argument, options=cmd.options)


def check(args: list[str], go_tmp) -> str:
    expected = run_go_pprof(args, go_tmp)
    got = ours(args)
    if args[0] == "-tags" and any(a.startswith(("-base", "-diff_base")) for a in args):
        # With negative weights pprof's tag order is not a strict ordering (1 and -1 tie),
        # and Go's map iteration makes the order of such ties vary from run to run.
        assert sorted(got.splitlines()) == sorted(expected.splitlines())
        return got
    assert got == expected, f"go tool pprof {' '.join(args)} differs"
    return got


# ----------------------------------------------------------- Go profiles

CASES = {
    "cpu": [
        [], ["-cum", "-nodecount=5"], ["-lines", "-nodecount=15"], ["-files"], ["-focus=main", "-hide=runtime"],
        ["-ignore=sha256", "-filefunctions"], ["-noinlines", "-mean"],
    ],
    "heap": [
        [], ["-inuse_objects"], ["-alloc_space", "-cum"], ["-sample_index=alloc_objects", "-nodecount=4"],
        ["-lines", "-focus=main"], ["-tagfocus=bytes=1kb:"],
    ],
    "allocs": [[], ["-sample_index=alloc_objects", "-hide=runtime"], ["-addresses", "-nodecount=10"]],
    "goroutine": [[], ["-cum", "-nodecount=6"], ["-lines"]],
}
GRAPH_CASES = [(kind, flags) for kind, all_flags in CASES.items() for flags in all_flags]


def _id(case):
    kind, flags = case
    return f"{kind} {' '.join(flags) or 'default'}"


@pytest.mark.parametrize("case", GRAPH_CASES, ids=_id)
def test_tree_and_dot_equal_go(case, go_profiles, go_tmp):
    kind, flags = case
    path = str(go_profiles[kind])
    check(["-tree", *flags, path], go_tmp)
    check(["-dot", *flags, path], go_tmp)


@pytest.mark.parametrize("kind,flags", [
    ("cpu", []), ("cpu", ["-lines", "-focus=fib"]), ("heap", []), ("heap", ["-alloc_objects", "-hide=runtime"]),
    ("allocs", ["-mean"]), ("goroutine", []),
], ids=lambda v: v if isinstance(v, str) else " ".join(v) or "default")
def test_traces_tags_raw_equal_go(kind, flags, go_profiles, go_tmp):
    path = str(go_profiles[kind])
    check(["-traces", *flags, path], go_tmp)
    check(["-tags", *flags, path], go_tmp)
    check(["-raw", *flags, path], go_tmp)


@pytest.mark.parametrize("kind,regexp,flags", [
    ("cpu", "main.fib", []), ("cpu", r"main\.", ["-cum"]), ("cpu", "sha256.block", []),
    ("heap", "main", ["-alloc_space"]), ("allocs", "main.alloc", ["-alloc_objects"]),
    ("cpu", "main.hashLoop", [f"-source_path={REPO}"]),
    ("cpu", "main.hashLoop", [f"-trim_path={REPO}", f"-source_path={REPO}"]),
])
def test_list_equals_go(kind, regexp, flags, go_profiles, go_tmp):
    text = check([f"-list={regexp}", *flags, str(go_profiles[kind])], go_tmp)
    assert text.startswith("Total: ")
    assert "ROUTINE ========================" in text


@pytest.mark.parametrize("regexp", ["main", "fib|Sum256", "mallocgc"])
def test_peek_equals_go(regexp, go_profiles, go_tmp):
    check([f"-peek={regexp}", str(go_profiles["cpu"])], go_tmp)
    check([f"-peek={regexp}", "-lines", str(go_profiles["cpu"])], go_tmp)


@pytest.mark.parametrize("report", ["-tree", "-traces", "-tags", "-raw", "-dot", "-list=main"])
@pytest.mark.parametrize("base", ["-base", "-diff_base"])
def test_reports_with_base_equal_go(report, base, go_profiles, go_tmp):
    check([report, f"{base}={go_profiles['heap']}", "-sample_index=alloc_space", str(go_profiles["heap2"])], go_tmp)
    check([report, f"{base}={go_profiles['allocs']}", str(go_profiles["allocs2"])], go_tmp)


# ----------------------------------------------------------- a Python profile


@pytest.fixture(scope="module")
def python_profile(tmp_path_factory) -> Path:
    """A CPU profile of Python frames in a real source file (this repository's units.py) and
    one that does not exist, with string and numeric labels."""
    lines = UNITS_PY.read_text().splitlines()
    def_line = {m.group(1): i + 1 for i, line in enumerate(lines) if (m := re.match(r"def (\w+)", line))}
    b = ProfileBuilder([("samples", "count"), ("cpu", "nanoseconds")], period_type=("cpu", "nanoseconds"),
                       period=10_000_000)
    rng = np.random.default_rng(7)
    path = str(UNITS_PY)
    for i in range(300):
        depth = int(rng.integers(1, 4))
        stack = [
            ("scale", path, def_line["scale"] + int(rng.integers(3, 12)), def_line["scale"]),
            ("scaled_label", path, def_line["scaled_label"] + 2, def_line["scaled_label"]),
            ("percentage", path, def_line["percentage"] + int(rng.integers(2, 6)), def_line["percentage"]),
        ][:depth] + [("handler", "/nonexistent/app/server.py", 40, 30)]
        b.add(stack, [1, 10_000_000 * int(rng.integers(1, 4))],
              labels={"thread": str(rng.choice(["MainThread", "worker-1", "worker-2"]))},
              num_labels={"request": (int(rng.choice([100, 2048, 4096])), "bytes")})
    prof = b.build(duration_nanos=3 * 10**9, time_nanos=1_700_000_000_123_456_789)
    out = tmp_path_factory.mktemp("py") / "python.pb.gz"
    out.write_bytes(prof.to_bytes())
    return out


@pytest.mark.parametrize("args", [
    ["-list=scale"], ["-list=."], ["-list=percentage", f"-source_path={REPO}"],
    ["-list=scale", f"-trim_path={REPO}", f"-source_path={REPO}"],
    ["-tree"], ["-traces"], ["-tags"], ["-raw"], ["-dot"], ["-dot", "-lines"], ["-tags", "-tagfocus=thread=worker"],
    ["-peek=scale", "-lines"],
], ids=lambda a: " ".join(a))
def test_python_profile_reports_equal_go(args, python_profile, go_tmp):
    text = check([*args, str(python_profile)], go_tmp)
    if args[0] == "-list=.":
        assert "Error: open /nonexistent/app/server.py: no such file or directory" in text
        assert "def scale(" in text


# ----------------------------------------------------------- DataFrames


def test_tree_frame_agrees_with_top(go_profiles):
    prof = load(go_profiles["cpu"])
    tree = make_report(prof, "tree", nodecount=80)
    top = make_report(prof, "top", nodecount=80)
    own = tree.xs("self", level="relation")
    assert list(own.index.get_level_values("node")) == list(top.index)
    assert np.array_equal(own["flat"].to_numpy(dtype=np.int64), top["flat"].to_numpy())
    callers = tree.xs("caller", level="relation")
    assert (callers["calls%"] <= 100.0001).all()


def test_peek_frame_only_matching_nodes(go_profiles):
    frame = make_report(load(go_profiles["cpu"]), "peek", argument="fib")
    assert set(frame.xs("self", level="relation").index.get_level_values("node")) == {"main.fib"}
    with pytest.raises(OptionError, match="no matches found"):
        make_report(load(go_profiles["cpu"]), "peek", argument="no_such_function_xyz")


def test_traces_tags_raw_folded_frames(go_profiles):
    prof = load(go_profiles["heap"])
    traces = make_report(prof, "traces", sample_index="alloc_space")
    assert traces["depth"].min() == 0
    leaves = traces[traces["depth"] == 0]
    assert leaves["value"].sum() == prof.total("alloc_space")

    tags = make_report(prof, "tags", sample_index="alloc_space")
    assert "bytes" in tags.index.get_level_values("key")
    assert abs(tags.loc["bytes", "percent"].sum() - 100) < 1e-6

    raw = make_report(prof, "raw")
    nonzero = int(np.any(prof.values != 0, axis=1).sum())
    assert len(raw) <= nonzero and raw["locations"].map(len).min() >= 1

    folded = make_report(prof, "folded", sample_index="alloc_space")
    assert folded["value"].sum() == prof.total("alloc_space")
    assert folded["stack"].str.contains("main.").any()
    text = render_text(prof, "folded", sample_index="alloc_space")
    first = text.splitlines()[0]
    assert re.fullmatch(r"\S.*;?.* -?\d+", first)
    lines_text = render_text(prof, "folded", sample_index="alloc_space", granularity="lines")
    assert re.search(r"main\.go:\d+", lines_text)


def test_list_frame_and_weblist_html(python_profile):
    prof = load(python_profile)
    frame = make_report(prof, "list", argument="scale", source_path=str(REPO))
    body = frame.xs("scale", level="function").reset_index()
    body = body[body["line"] > 0]
    assert body["source"].str.contains("def scale").any()
    assert body["cum"].sum() > 0
    html = render_text(prof, "weblist", argument="scale|handler", source_path=str(REPO))
    assert html.startswith("<div") and "<style>" in html and "def scale" in html
    assert "no such file or directory" in html  # handler's file does not exist


def test_dot_frame_and_svg(go_profiles, monkeypatch):
    prof = load(go_profiles["cpu"])
    nodes = make_report(prof, "dot", nodecount=12)
    assert 0 < len(nodes) <= 12 and list(nodes["id"]) == list(range(1, len(nodes) + 1))
    svg = render_text(prof, "svg", nodecount=12)
    assert "<svg" in svg and "main.cpuWorker" in svg  # the root of all the CPU work
    with pytest.raises(OptionError, match="call_tree"):
        render_text(prof, "dot", call_tree=True)
    from pyprofnb.report import dot
    monkeypatch.setattr(dot, "dot_path", lambda: None)
    with pytest.raises(PprofError, match="Graphviz"):
        render_text(prof, "svg")
