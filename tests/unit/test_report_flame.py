"""The flame graph: rectangles from the report core, the differential mode, the HTML page
(self-contained, and its script driven under node with a tiny stand-in DOM) and matplotlib."""
from __future__ import annotations

import json
import re
import shutil
import subprocess

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

from pyprofnb.model.profile import diff, subtract  # noqa: E402
from pyprofnb.report import make_report, render_text  # noqa: E402
from pyprofnb.report.flame import draw_flame, flame_data, flame_html, package_of  # noqa: E402

from synthetic import DUMPS, ENCODE, HANDLER, MAIN, OTHER, cpu  # noqa: E402


@pytest.fixture
def prof():
    return cpu([([ENCODE, DUMPS, HANDLER, MAIN], 3), ([DUMPS, HANDLER, MAIN], 1), ([HANDLER, MAIN], 2),
                ([OTHER, MAIN], 4)])


@pytest.fixture
def base():
    return cpu([([ENCODE, DUMPS, HANDLER, MAIN], 1), ([OTHER, MAIN], 8)])


def test_boxes_nest_and_sum(prof):
    boxes = flame_data(prof)
    root = boxes.iloc[0]
    assert root["name"] == "root" and root["width"] == prof.total("cpu")
    by_name = boxes.set_index("name")
    assert by_name.loc["handler", "value"] == 60_000_000
    assert by_name.loc["handler", "self"] == 20_000_000
    assert by_name.loc["json.dumps", "depth"] == 3
    # every child lies inside its parent, and children are laid out widest first
    for box in boxes.iloc[1:].itertuples():
        parent = boxes.loc[box.parent]
        assert parent.x <= box.x and box.x + box.width <= parent.x + parent.width
        assert box.depth == parent.depth + 1
    assert by_name.loc["handler", "x"] == 0 and by_name.loc["<module>", "x"] == 60_000_000
    assert boxes.attrs["sample_type"] == "cpu"


def test_report_kind_and_options(prof):
    assert list(make_report(prof, "flame").columns[:3]) == ["depth", "name", "function"]
    focused = make_report(prof, "flame", focus="json")
    assert "<module>" not in set(focused["name"])
    assert focused.iloc[0]["width"] == 40_000_000
    hidden = make_report(prof, "flame", hide="handler")
    assert "handler" not in set(hidden["name"])
    assert hidden.set_index("name").loc["json.dumps", "depth"] == 2
    counts = make_report(prof, "flame", sample_index="samples")
    assert counts.iloc[0]["width"] == 10
    by_file = make_report(prof, "flame", granularity="files")
    assert "/app/main.py" in set(by_file["name"])


def test_folded(prof):
    text = render_text(prof, "folded")
    assert "main;handler;json.dumps;json.encoder.encode 30000000\n" in text


def test_differential(prof, base):
    boxes = flame_data(diff(prof, base)).set_index("name")
    assert boxes.loc["<module>", "increase"] == 40_000_000
    assert boxes.loc["<module>", "decrease"] == 80_000_000
    assert boxes.loc["<module>", "width"] == 120_000_000
    assert boxes.loc["<module>", "value"] == -40_000_000
    assert boxes.loc["handler", "value"] > 0
    # -diff_base percentages are relative to the base total
    assert boxes.loc["handler", "percent"] == pytest.approx(50 / 90 * 100)
    html = flame_html(diff(prof, base))
    assert "grew" in html and "shrank" in html
    # -base: identical stacks cancel
    sub = flame_data(subtract(prof, base)).set_index("name")
    assert sub.loc["json.encoder.encode", "value"] == 20_000_000


def test_html_is_self_contained(prof):
    page = flame_html(prof)
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert "&lt;module&gt;" in page  # names are escaped
    fragment = flame_html(prof, fragment=True)
    assert fragment.startswith('<div class="pyprofnb-flame"')
    assert render_text(prof, "flame").startswith("<!DOCTYPE html>")


def test_package_colours():
    assert package_of("json.encoder.encode") == "json"
    assert package_of("github.com/x/y.(*T).F") == "github.com/x/y"


def test_matplotlib(prof, base):
    ax = draw_flame(flame_data(prof))
    assert ax.get_title(loc="left") == "Flame graph of cpu"
    ax = draw_flame(flame_data(diff(prof, base)))
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["grew", "shrank"]


def test_empty_profile():
    empty = cpu([])
    boxes = flame_data(empty)
    assert len(boxes) == 1 and boxes.iloc[0]["width"] == 0
    assert "pyprofnb-flame" in flame_html(empty)


HARNESS = r"""// A tiny stand-in for the DOM, enough to run the flame graph's script under node.
const fs = require('fs');
const page = fs.readFileSync(process.argv[2], 'utf8');
const script = page.match(/<script>([\s\S]*?)<\/script>/)[1];
const dataText = page.match(/<script type="application\/json" class="pf-data">([\s\S]*?)<\/script>/)[1];
function classList(el) {
  const set = new Set();
  return { add: c => set.add(c), remove: c => set.delete(c), contains: c => set.has(c),
           toggle: (c, on) => { if (on === undefined) on = !set.has(c); on ? set.add(c) : set.delete(c); return on; } };
}
function element(cls, extra) {
  const el = Object.assign({ style: {}, dataset: {}, attrs: {}, listeners: {}, textContent: '',
    classList: null, offsetWidth: 100,
    getAttribute(n) { return this.attrs[n]; }, removeAttribute(n) { delete this.attrs[n]; },
    addEventListener(t, f) { this.listeners[t] = f; },
    closest(sel) { return sel === '.pf-r' && this.classList.contains('pf-r') ? this : null; },
    getBoundingClientRect() { return { left: 0, top: 0, width: 1000 }; } }, extra || {});
  el.classList = classList(el); el.classList.add(cls); return el;
}
const boxes = [];
for (const m of page.matchAll(/<div class="pf-r" data-i="(\d+)" style="([^"]*)" title="([^"]*)">([^<]*)<\/div>/g)) {
  const b = element('pf-r'); b.dataset.i = m[1]; b.attrs.title = m[3]; b.name = m[4]; boxes.push(b);
}
const parts = { '.pf-data': element('pf-data', { textContent: dataText }), '.pf-body': element('pf-body'),
  '.pf-tip': element('pf-tip'), '.pf-info': element('pf-info'), '.pf-reset': element('pf-reset'),
  '.pf-search': element('pf-search', { value: '' }) };
parts['.pf-body'].querySelectorAll = () => boxes;
const root = element('pyprofnb-flame', { querySelector: s => parts[s] });
global.document = { currentScript: { parentNode: root }, getElementById: () => root };
eval(script);
const out = { steps: [] };
const state = () => boxes.map(b => ({ i: +b.dataset.i, name: b.name, shown: b.style.display !== 'none',
  left: parseFloat(b.style.left || 'NaN'), width: parseFloat(b.style.width || 'NaN'), match: b.classList.contains('pf-match') }));
for (const action of JSON.parse(process.argv[3])) {
  if (action.click !== undefined) parts['.pf-body'].listeners.click({ target: boxes.find(b => b.name === action.click) });
  if (action.reset) parts['.pf-reset'].listeners.click({});
  if (action.search !== undefined) { parts['.pf-search'].value = action.search; parts['.pf-search'].listeners.input({}); }
  if (action.hover !== undefined) parts['.pf-body'].listeners.mousemove({ target: boxes.find(b => b.name === action.hover), clientX: 5, clientY: 5 });
  out.steps.push({ boxes: state(), info: parts['.pf-info'].textContent, tip: parts['.pf-tip'].textContent });
}
console.log(JSON.stringify(out));
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_script_zoom_search_hover(prof, tmp_path):
    page = tmp_path / "flame.html"
    page.write_text(flame_html(prof))
    harness = tmp_path / "harness.js"
    harness.write_text(HARNESS)
    actions = [{"click": "handler"}, {"search": "json"}, {"hover": "json.dumps"}, {"click": "handler"}, {"reset": True}]
    out = subprocess.run(["node", str(harness), str(page), json.dumps(actions)], capture_output=True, text=True, check=True)
    steps = json.loads(out.stdout)["steps"]
    zoomed = {b["name"]: b for b in steps[0]["boxes"]}
    assert not zoomed["&lt;module&gt;"]["shown"]
    assert zoomed["handler"]["width"] == 100 and zoomed["main"]["width"] == 100
    assert zoomed["json.dumps"]["width"] == pytest.approx(200 / 3)
    matched = {b["name"] for b in steps[1]["boxes"] if b["match"]}
    assert matched == {"json.dumps", "json.encoder.encode"}
    assert steps[1]["info"].startswith("2 boxes match, 40.00%")
    assert "json.dumps" in steps[2]["tip"] and "40.00%" in steps[2]["tip"]
    stepped_out = {b["name"]: b for b in steps[3]["boxes"]}  # a second click steps out to the caller
    assert stepped_out["&lt;module&gt;"]["shown"]
    assert all(b["shown"] for b in steps[4]["boxes"])


def test_plots(prof, base):
    from pyprofnb import plots

    ax = plots.top_bars(prof, 3)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["<module>", "json.encoder.encode", "handler"]
    ax = plots.diff_flame(prof, base)
    assert ax.get_legend() is not None
    ax = plots.over_time([base, prof], top=1)
    assert list(ax.pyprofnb_data.columns) == ["total", "<module>"]
    assert ax.pyprofnb_data["total"].tolist() == [90_000_000, 100_000_000]
