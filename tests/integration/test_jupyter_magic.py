"""%pprof and %%pprof driven through a real in-process IPython shell, the explorer widgets,
and the rich display of profiles; against profiles built here and the real demo server."""
from __future__ import annotations

import socket

import pandas as pd
import pytest
import requests
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from synthetic import DUMPS, HANDLER, MAIN, cpu


@pytest.fixture(scope="module")
def ip():
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "pyprofnb")
    return shell


@pytest.fixture
def ns(ip):
    ip.user_ns["prof"] = cpu([([DUMPS, HANDLER, MAIN], 3), ([HANDLER, MAIN], 1), ([MAIN], 2)])
    ip.user_ns["base"] = cpu([([DUMPS, HANDLER, MAIN], 1), ([MAIN], 6)])
    return ip.user_ns


def run(ip, code):
    """Run a cell; return (its captured rich outputs, the result). Never raises."""
    with capture_output() as cap:
        result = ip.run_cell(code)
    assert result.error_in_exec is None, result.error_in_exec
    return cap, result.result


def texts(cap) -> str:
    return "\n".join(o.data.get("text/plain", "") for o in cap.outputs) + cap.stdout


def htmls(cap) -> str:
    return "\n".join(o.data.get("text/html", "") for o in cap.outputs)


def test_top_from_a_variable_returns_its_dataframe(ip, ns):
    cap, _ = run(ip, "top = %pprof -top -cum prof")
    top = ns["top"]
    assert isinstance(top, pd.DataFrame)
    assert list(top.index[:2]) == ["main", "handler"]  # -cum order
    assert top.loc["json.dumps", "flat"] == 30_000_000
    assert "linear-gradient" in top._repr_html_()  # bars in the rich table
    assert cap.outputs == []  # an assignment shows nothing
    assert type(top.head(1)) is pd.DataFrame  # derived frames are plain again


def test_report_shown_when_not_assigned(ip, ns):
    _, shown = run(ip, "%pprof -top -nodecount=2 prof")  # the cell's result, displayed richly
    assert "<table" in shown._repr_html_() and "Showing top 2 nodes out of 3" in shown._repr_html_()


def test_text_reports_and_flame(ip, ns):
    _, traces = run(ip, "%pprof -traces prof")
    assert "<pre" in traces._repr_html_() and "json.dumps" in traces._repr_html_()
    _, peek = run(ip, "%pprof -peek=handler prof")
    assert "| handler" in peek._repr_html_()
    cap, _ = run(ip, "f = %pprof -flame prof")
    assert set(ns["f"].columns) >= {"depth", "name", "x", "width", "value", "self"}
    assert 'class="pyprofnb-flame"' in ns["f"]._repr_html_()


def test_diff_base_flame_from_variables(ip, ns):
    cap, _ = run(ip, "d = %pprof -flame -diff_base base prof")
    boxes = ns["d"].set_index("name")
    assert boxes.loc["json.dumps", "value"] == 20_000_000
    assert boxes.loc["main", "decrease"] == 70_000_000
    assert "grew" in ns["d"]._repr_html_()
    cap, _ = run(ip, "t = %pprof -top -base base prof")
    assert ns["t"].loc["json.dumps", "flat"] == 20_000_000


def test_output_file(ip, ns, tmp_path):
    path = tmp_path / "flame.html"
    cap, _ = run(ip, f"%pprof -flame -output {path} prof")
    assert path.read_text().startswith("<!DOCTYPE html>")
    assert "written to" in texts(cap)


@pytest.mark.parametrize("line, expected", [
    ("-bogus prof", "unknown flag -bogus"),
    ("-top", "no profile source"),
    ("-top -sample_index=alloc_space prof", "alloc_space"),
    ("-top -focus=( prof", "focus"),
    ("-top /no/such/file.pb.gz", "/no/such/file.pb.gz"),
    ("-top 'unterminated", "cannot read the flags"),
])
def test_bad_input_is_one_readable_message(ip, ns, line, expected):
    cap, result = run(ip, f"%pprof {line}")
    assert result is None
    assert len(cap.outputs) == 1
    assert texts(cap).startswith("pprof: ") and expected in texts(cap)
    assert "Traceback" not in texts(cap)
    run(ip, "x = 1 + 1")  # the shell stays usable
    assert ns["x"] == 2


def test_server_not_running(ip, ns):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cap, result = run(ip, f"%pprof -top http://127.0.0.1:{port}/debug/pprof/heap")
    assert result is None and f"127.0.0.1:{port}" in texts(cap) and texts(cap).startswith("pprof: ")


def test_profile_rich_display(ip, ns):
    data, _ = ip.display_formatter.format(ns["prof"])
    assert "sample type" in data["text/html"] and "cpu" in data["text/html"]
    assert data["text/plain"].startswith("<Profile 3 samples")


def test_explorer_rerenders_without_fetching(ip, ns, monkeypatch):
    from pyprofnb.jupyter.explorer import Explorer

    cap, result = run(ip, "%pprof prof")
    assert result is None and any("application/vnd.jupyter.widget-view+json" in o.data for o in cap.outputs)

    import pyprofnb.jupyter.explorer as explorer_module

    def no_fetch(*a, **k):
        raise AssertionError("the explorer refetched")

    monkeypatch.setattr(explorer_module, "load_sources", no_fetch)
    ex = Explorer(ns["prof"], shell=ip)
    assert list(ex.frame.index) == ["json.dumps", "main", "handler"] or ex.frame.index[0] == "json.dumps"
    ex.cum.value = True
    assert ex.frame.index[0] == "main"
    ex.sample.value = "samples"
    assert ex.frame["flat"].sum() == 6
    ex.focus.value = "json"
    assert list(ex.frame.index) == ["json.dumps", "handler", "main"] or set(ex.frame.index) == {"json.dumps", "handler", "main"}
    assert ex.frame["flat"].sum() == 3
    ex.focus.value = "("
    assert ex.frame is None  # bad regexp: a message, no crash
    ex.focus.value = ""
    ex.view.value = "flame graph"
    assert "width" in ex.frame.columns
    ex.view.value = "peek"
    assert ex.frame is None  # waits for a regexp
    ex.regex.value = "handler"
    assert ex.frame is not None
    ex.view.value = "top"
    assert "base" in ex.base.options
    ex.sample.value = "cpu"
    ex.base.value = "base"
    assert ex.frame.loc["json.dumps", "flat"] == 20_000_000
    ex.base_mode.value = "base"
    assert ex.frame.loc["main", "flat"] == -40_000_000
    assert ex.refresh.disabled  # no URL to refresh from


def test_cell_magic_wall(ip, ns):
    cap, result = run(ip, "%%pprof -wall -o wall_prof\nimport time\ndef napping():\n    time.sleep(0.25)\nnapping()\n")
    prof = ns["wall_prof"]
    assert [t.type for t in prof.sample_types] == ["samples", "wall"]
    top = prof.top()
    assert "napping" in top.index
    assert set(top.index) == {"<module>", "napping"}  # the shell's frames and other threads are cut


def test_cell_magic_cpu(ip, ns):
    from pyprofnb.collect import cpu as engine

    if not engine.available():
        pytest.skip(engine.UNAVAILABLE_REASON)
    cap, result = run(ip, "%%pprof -cpu -top -o cpu_prof\ndef burn(n):\n    s = 0\n"
                          "    for i in range(n):\n        s += i * i\n    return s\nburn(2_000_000)\n")
    assert "burn" in ns["cpu_prof"].top().index
    assert "burn" in result._repr_html_()


def test_cell_magic_bad_flags(ip, ns):
    cap, result = run(ip, "%%pprof -wall somefile\nx = 1\n")
    assert "takes no sources" in texts(cap)
    cap, result = run(ip, "%%pprof -o\nx = 1\n")
    assert "-o needs a variable name" in texts(cap)


def test_against_demo_server(ip, ns, demo_server):
    for _ in range(20):
        requests.post(demo_server + "/sendjson", timeout=10)
    cap, _ = run(ip, f"heap = %pprof -top -alloc_space {demo_server}/debug/pprof/heap")
    heap = ns["heap"]
    assert heap.attrs["sample_type"] == "alloc_space"
    assert heap["flat"].sum() > 0
    cap, _ = run(ip, f"%pprof -top -sample_index=cpu {demo_server}/debug/pprof/heap")
    assert texts(cap).startswith("pprof: ") and "cpu" in texts(cap)
