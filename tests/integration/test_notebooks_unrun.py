"""The committed tutorial notebooks as a reader first meets them: opened, not run.

Each notebook in notebooks/ is opened in a real headless Chromium twice, without running a
cell: in JupyterLab (the outputs are untrusted there, as in any notebook one did not run) and
as nbconvert's HTML (what nbviewer and an exported copy show). Neither may show a widget's
repr (``VBox(children=...)``) or an SVG's source as text, and the plots must be pictures.
Screenshots of every notebook go to $PYPROFNB_SCREENSHOTS/pyprofnb-screenshots/.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
import requests

from browser import have_browser, screenshot, start_chromium, stop_chromium, wait_for
from demo_server.launch import free_port

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
TUTORIAL = ["01-load", "02-heap", "03-cpu", "04-compare"]
RAW = ("VBox(children", "HBox(children", "<svg", "xmlns=", "<?xml")


@pytest.fixture(scope="module")
def browser():
    missing = have_browser()
    if missing:
        pytest.fail(missing)
    driver = start_chromium(1300, 1000)
    try:
        yield driver
    finally:
        stop_chromium(driver)


@pytest.mark.parametrize("name", TUTORIAL)
def test_committed_with_outputs_that_read_without_running(name):
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code), "every code cell was run before the commit"
    assert not any(o.output_type == "error" for c in code for o in c.outputs)
    assert not any("NBVAL_" in c.source for c in code), "nbval's markers are cell tags, not comments"
    for c in code:
        for o in c.outputs:
            data = o.get("data", {})
            if "application/vnd.jupyter.widget-view+json" in data:
                assert "text/html" in data, f"a widget without a static fallback in {name}: {c.source[:60]!r}"
            for mime in ("text/plain",):
                text = data.get(mime, "")
                assert not any(raw in text for raw in RAW[:2]), f"a widget repr as text in {name}: {text[:80]!r}"
    if any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for c in code for o in c.outputs):
        state = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {})
        assert state.get("state"), f"{name} shows widgets but saved no widget state"


def _page_text_and_shots(driver, container: str, name: str, what: str) -> str:
    """Scroll through the page (or the visible element matching ``container``), screenshot
    each screenful, and return the text shown on the way (JupyterLab renders only the cells
    in view)."""
    find = f"var e=[...document.querySelectorAll('{container}')].find(x => x.offsetParent !== null);"
    total = driver.execute_script(find + "return e ? e.scrollHeight : document.body.scrollHeight")
    step, y, k, texts = 800, 0, 0, []
    while y < total and k < 60:
        driver.execute_script(find + f"if (e && e.scrollHeight > e.clientHeight) e.scrollTop={y}; else window.scrollTo(0,{y});")
        time.sleep(0.4)
        screenshot(driver, f"{what}-{name}-{k:02d}")
        texts.append(driver.find_element("css selector", "body").text)
        total = driver.execute_script(find + "return e ? e.scrollHeight : document.body.scrollHeight")
        y, k = y + step, k + 1
    return "\n".join(texts)


def _assert_reads_well(text: str, driver, name: str) -> None:
    for raw in RAW:
        assert raw not in text, f"{name} shows {raw!r} as text"
    if name != "01-load":  # 01 has no plots
        pictures = [i for i in driver.find_elements("css selector", "img, iframe") if i.size["height"] > 50]
        assert pictures, f"{name}: no pictures (plots are PNG images; graphs SVG images or the interactive page)"


@pytest.mark.parametrize("name", TUTORIAL)
def test_nbconvert_html_unrun(browser, name, tmp_path):
    """What nbviewer shows: nbconvert's HTML of the committed notebook, opened offline."""
    subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "html", "--output-dir", str(tmp_path),
                    str(NOTEBOOKS / f"{name}.ipynb")], check=True, capture_output=True, timeout=180)
    browser.get((tmp_path / f"{name}.html").as_uri())
    wait_for(lambda: browser.find_elements("css selector", ".jp-OutputArea-output"), 30, "outputs")
    text = _page_text_and_shots(browser, "body", name, "html")
    _assert_reads_well(text, browser, name)
    assert "flat%" in text or name == "01-load", "the top tables read as tables"
    # Widgets are exported as views of the saved widget state, which nbviewer renders with
    # the widget manager it loads from the web (this test runs offline, so it checks that
    # every view has its state rather than looking at it).
    html_text = (tmp_path / f"{name}.html").read_text()
    views = re.findall(r'"model_id": "([0-9a-f]+)"', html_text)
    state = re.search(r'<script type="application/vnd.jupyter.widget-state\+json">(.*?)</script>', html_text, re.S)
    if views:
        assert state and all(v in state.group(1) for v in views), f"{name}: widget views without their saved state"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab over a copy of the committed notebooks (never run here: outputs untrusted)."""
    root = tmp_path_factory.mktemp("lab")
    for name in TUTORIAL:
        shutil.copy(NOTEBOOKS / f"{name}.ipynb", root)
    port, token = free_port(), "pyprofnb-test"
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(root / ".cfg"), JUPYTERLAB_WORKSPACES_DIR=str(root / ".ws"),
               JUPYTER_RUNTIME_DIR=str(root / ".rt"))
    argv = [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.token={token}", f"--ServerApp.root_dir={root}"]
    if os.geteuid() == 0:
        argv.append("--allow-root")
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: requests.get(f"{url}/api/status?token={token}", timeout=2).ok, 90, "JupyterLab to start")
        yield url, token
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("name", TUTORIAL)
def test_jupyterlab_unrun(browser, lab, name):
    url, token = lab
    browser.get(f"{url}/lab/tree/{name}.ipynb?token={token}")
    wait_for(lambda: len([e for e in browser.find_elements("css selector", ".jp-OutputArea-output")
                          if e.text.strip() or e.find_elements("css selector", "img")]) >= 3, 90, "saved outputs")
    time.sleep(1.0)
    for button in browser.find_elements("css selector", ".jp-Notification-Toast button, .Toastify button"):
        if button.text.strip() == "No":  # JupyterLab's news question covers outputs
            button.click()
            break
    text = _page_text_and_shots(browser, ".jp-NotebookPanel .jp-WindowedPanel-outer", name, "lab")
    assert "Stopping the service" in text, "scrolled to the end of the notebook"
    _assert_reads_well(text, browser, name)
