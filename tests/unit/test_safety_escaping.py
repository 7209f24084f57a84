"""Hostile names stay data (issue 16): a profiled program chooses its function, file, label
and thread names, and none of them may add markup to the DOT, SVG, HTML or notebook output
made from its profile."""
from __future__ import annotations

import html.parser
import json
import re
import shutil
import subprocess

import pytest

from pyprofnb.model.profile import ProfileBuilder
from pyprofnb.report import render_text
from pyprofnb.report.escaping import script_json

THREAD = 'x" URL="javascript:alert(1)" y="'
FUNC = "<!--<script>"
FUNC2 = '</script><img src=x onerror=alert(2)>'
FILE = '/app/"q\\.py'
LABEL_KEY = 'k"ey'
LABEL_VALUE = 'v" href="javascript:alert(3)'
NEWLINE = "two\nlines\\"


def hostile_profile():
    b = ProfileBuilder([("samples", "count"), ("cpu", "nanoseconds")], period_type=("cpu", "nanoseconds"),
                       period=10_000_000)
    for i, (leaf, n) in enumerate([(FUNC, 60), (FUNC2, 30), (NEWLINE, 10)]):
        b.add([(leaf, FILE, 3 + i), ("main", "/app/main.py", 1)], [n, n * 10_000_000],
              labels={"thread": THREAD, LABEL_KEY: LABEL_VALUE}, num_labels={"bytes": (512 * (i + 1), "bytes")})
    return b.build(duration_nanos=10**9)


class _Scripts(html.parser.HTMLParser):
    """Collects every element's tag and the raw text of each <script>."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags, self.scripts, self._in_script = [], [], False
        self.attrs = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs.extend(attrs)
        if tag == "script":
            self._in_script = True
            self.scripts.append("")

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts[-1] += data


def parse_html(text):
    p = _Scripts()
    p.feed(text)
    p.close()
    return p


def test_script_json_round_trips_and_hides_markup():
    value = {"n": [FUNC, FUNC2, "&amp;", "\u2028\u2029", "</SCRIPT >"]}
    text = script_json(value)
    assert json.loads(text) == value
    assert not set("<>&") & set(text) and "\u2028" not in text


def test_dot_escapes_every_name():
    dot = render_text(hostile_profile(), "dot", tagfocus="", nodefraction=0, edgefraction=0)
    # Every quoted string ends where it should: no attribute smuggled in by a name.
    assert not re.search(r'(?<!\\)" *(URL|href)=', dot)  # no quote ends a string before an attribute
    assert 'x\\" URL=\\"javascript:alert(1)\\" y=\\"' in dot  # the thread label, escaped
    if shutil.which("dot") is None:
        pytest.skip("Graphviz is not installed (make test installs it)")
    out = subprocess.run(["dot", "-Tjson"], input=dot.encode(), capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr.decode()
    graph = json.loads(out.stdout)
    names = {o.get("name") for o in graph["objects"]}
    attrs = {k for o in graph["objects"] for k in o} | {k for e in graph.get("edges", []) for k in e}
    assert not {"URL", "href", "target"} & attrs
    labels = [o.get("label", "") for o in graph["objects"]]
    assert f"thread:{THREAD}" in " ".join(labels).replace("\\n", "\n") or any(THREAD in l for l in labels), labels
    assert any(FUNC in l for l in labels) and any(FUNC2 in l for l in labels)
    assert names  # the graph parsed into nodes


def test_svg_has_no_links_and_shows_the_names_as_text():
    if shutil.which("dot") is None:
        pytest.skip("Graphviz is not installed (make test installs it)")
    import xml.etree.ElementTree as ET

    svg = render_text(hostile_profile(), "svg", nodefraction=0, edgefraction=0)
    root = ET.fromstring(svg[svg.find("<svg"):])
    all_attrs = {k for el in root.iter() for k in el.attrib}
    assert not any(k.endswith("href") for k in all_attrs), all_attrs
    texts = " ".join(t for el in root.iter() for t in [el.text or ""])
    assert THREAD.split('"')[0] in texts and "javascript:alert(1)" in texts  # shown, as text only
    assert FUNC in texts


def test_flame_graph_script_survives_hostile_function_names():
    from pyprofnb.report.flame import flame_html

    page = flame_html(hostile_profile())
    parsed = parse_html(page)
    assert parsed.tags.count("script") == 2 and "img" not in parsed.tags
    data_script = next(s for s in parsed.scripts if s.lstrip().startswith("{"))
    data = json.loads(data_script)
    assert FUNC in data["n"] and FUNC2 in data["n"]
    for script in parsed.scripts:
        assert "<!--" not in script and "</script" not in script.lower()
    assert not any(k.startswith("on") for k, _ in parsed.attrs)


def test_notebook_views_escape_names():
    from pyprofnb.jupyter import display

    prof = hostile_profile()
    for kind in ("top", "flame", "traces", "tags", "dot", "peek"):
        rich = display.render(prof, kind, "main" if kind == "peek" else None)
        page = rich._repr_html_()
        parsed = parse_html(page)
        assert "img" not in parsed.tags, kind
        assert not any(k.startswith("on") for k, _ in parsed.attrs), kind
        assert parsed.tags.count("script") == (2 if kind == "flame" else 0), kind
    page = display.profile_html(prof)
    assert "img" not in parse_html(page).tags


def test_weblist_escapes_names_and_source(tmp_path):
    src = tmp_path / "evil.py"
    src.write_text("".join(f"x = '</pre><script>alert({i})</script>'\n" for i in range(10)))
    b = ProfileBuilder([("samples", "count")])
    b.add([(FUNC2, str(src), 3)], [5])
    page = render_text(b.build(), "weblist", ".")
    parsed = parse_html(page)
    assert "img" not in parsed.tags and parsed.tags.count("script") <= 1
    assert all("alert(" not in s for s in parsed.scripts)


# ------------------------------------------------------------------ source views

@pytest.mark.parametrize("kind", ["list", "weblist"])
def test_source_views_refuse_devices_and_fifos(tmp_path, kind):
    """A profile naming /dev/zero or a FIFO: the report returns at once with a note
    (pprof's Error: line), never reading without end or waiting for a writer."""
    import os
    import time

    fifo = tmp_path / "pipe.py"
    os.mkfifo(fifo)
    b = ProfileBuilder([("samples", "count")])
    b.add([("zero", "/dev/zero", 3)], [5])
    b.add([("piped", str(fifo), 3)], [5])
    t0 = time.monotonic()
    text = render_text(b.build(), kind, ".")
    assert time.monotonic() - t0 < 5
    assert text.count("not a regular file") == 2, text


def test_source_views_read_a_bounded_prefix(tmp_path, monkeypatch):
    from pyprofnb.report import source

    monkeypatch.setattr(source, "MAX_SOURCE_BYTES", 1000)
    big = tmp_path / "big.py"
    big.write_text("".join(f"line_{i:05d} = {i}\n" for i in range(5000)))  # 100 kB
    b = ProfileBuilder([("samples", "count")])
    b.add([("f", str(big), 10)], [5])
    text = render_text(b.build(), "list", "f")
    assert "line_00009" in text and "line_00100" not in text
    assert sum(len(line) + 1 for line in source._read_lines(str(big))) <= 1000 + 1
