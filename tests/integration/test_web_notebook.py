"""The web UI's views in JupyterLab, in a real Chromium: a notebook executed elsewhere (so
untrusted here) shows the static fallback (text and the graph as an image, never widget
reprs or SVG source); after Run All the same cells show the interactive page in an iframe
with working view tabs."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import nbformat
import pytest
import requests
from nbclient import NotebookClient

from browser import (busy_cpu_profile, console_errors, have_browser, screenshot, start_chromium, stop_chromium,
                     wait_for)
from demo_server.launch import free_port



@pytest.fixture(scope="module")
def cpu_file(demo_server, tmp_path_factory):
    if have_browser():
        pytest.fail(have_browser())
    path = tmp_path_factory.mktemp("prof") / "cpu.pb.gz"
    path.write_bytes(busy_cpu_profile(demo_server))
    return path


def _notebook(profile) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_code_cell("%load_ext pyprofnb"),
        nbformat.v4.new_code_cell(f"%pprof -http {profile}"),
        nbformat.v4.new_code_cell(f"%pprof -svg {profile}"),
        nbformat.v4.new_code_cell(f"%pprof {profile}"),
    ]
    return nb


@pytest.fixture(scope="module")
def lab(cpu_file, tmp_path_factory):
    """An executed notebook (outputs saved, not trusted here) in a JupyterLab server."""
    root = tmp_path_factory.mktemp("lab")
    nb = _notebook(cpu_file)
    NotebookClient(nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(root)}}).execute()
    nbformat.write(nb, root / "views.ipynb")
    port, token = free_port(), "pyprofnb-test"
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(root / ".cfg"), JUPYTERLAB_WORKSPACES_DIR=str(root / ".ws"),
               JUPYTER_RUNTIME_DIR=str(root / ".rt"))
    argv = [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.token={token}", f"--ServerApp.root_dir={root}", "--LabApp.expose_app_in_browser=True",
            "--ServerApp.disable_check_xsrf=False"]
    if os.geteuid() == 0:
        argv.append("--allow-root")
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: requests.get(f"{url}/api/status?token={token}", timeout=2).ok, 90, "JupyterLab to start")
        yield f"{url}/lab/tree/views.ipynb?token={token}", nb
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _dismiss_news(driver) -> None:
    """JupyterLab asks about its news feed in a toast that covers outputs."""
    for button in driver.find_elements("css selector", ".jp-Notification-Toast button, .Toastify button"):
        if button.text.strip() == "No":
            button.click()
            return


def test_saved_outputs_carry_a_static_fallback(lab):
    _, nb = lab
    web = nb.cells[1].outputs[0]["data"]
    assert "<iframe srcdoc=" in web["text/html"] and 'class="pyprofnb-static"' in web["text/html"]
    assert "data:image/svg+xml;base64," in web["text/html"]
    assert web["text/plain"].lstrip().startswith(("Type:", "File:", "Showing")) and "<svg" not in web["text/plain"]
    graph = nb.cells[2].outputs[0]["data"]
    assert "<svg" not in graph["text/plain"]
    explorer = [o for o in nb.cells[3].outputs if "data" in o][0]["data"]
    assert "VBox(" not in explorer["text/plain"] and "flat%" in explorer["text/plain"]
    assert "data:image/svg+xml;base64," in explorer["text/html"]


def test_jupyterlab_before_and_after_running(lab):
    url, _ = lab
    driver = start_chromium(1300, 1000)
    try:
        driver.get(url)
        # Before running: the outputs are untrusted; JupyterLab drops iframes and scripts.
        outputs = wait_for(lambda: [e for e in driver.find_elements("css selector", ".jp-OutputArea-output")
                                    if e.text.strip() or e.find_elements("css selector", "img")]
                           if len(driver.find_elements("css selector", ".jp-OutputArea-output")) >= 3 else None,
                           90, "saved outputs")
        statics = wait_for(lambda: driver.find_elements("css selector", ".pyprofnb-static img"), 30, "static graph images")
        assert len(statics) >= 2
        _dismiss_news(driver)
        driver.execute_script("arguments[0].scrollIntoView()", statics[0])
        wait_for(lambda: statics[0].size["height"] > 100 and statics[0].is_displayed(), 10, "the graph image to show")
        assert not driver.find_elements("css selector", ".jp-OutputArea-output iframe")
        page_text = driver.find_element("css selector", ".jp-Notebook").text
        assert "VBox(children" not in page_text and "<svg" not in page_text and "xmlns" not in page_text
        assert "flat%" in page_text
        screenshot(driver, "notebook-untrusted")

        # Run every cell: the outputs are now trusted and the page runs in its iframe.
        driver.execute_script("window.jupyterapp.commands.execute('notebook:run-all-cells')")
        frame = wait_for(lambda: driver.find_elements("css selector", ".pyprofnb-web iframe"), 120, "the web view iframe")[0]
        wait_for(lambda: not frame.find_element("xpath", "../..").find_element(
            "css selector", ".pyprofnb-static").is_displayed(), 30, "the static fallback to hide")
        driver.execute_script("arguments[0].scrollIntoView()", frame)
        time.sleep(0.5)
        screenshot(driver, "notebook-trusted-graph")
        driver.switch_to.frame(frame)
        wait_for(lambda: driver.find_elements("css selector", ".pp-graph-svg svg g.node"), 30, "graph nodes")
        driver.find_element("css selector", '.pp-views a[data-view="flame"]').click()
        flame = wait_for(lambda: [e for e in driver.find_elements("css selector", ".pyprofnb-flame") if e.is_displayed()],
                         20, "the flame graph")
        assert flame[0].find_elements("css selector", ".pf-r")
        driver.find_element("css selector", '.pp-views a[data-view="top"]').click()
        rows = wait_for(lambda: [r for r in driver.find_elements("css selector", ".pp-table tbody tr") if r.is_displayed()],
                        20, "top rows")
        assert len(rows) > 3
        driver.switch_to.default_content()
        screenshot(driver, "notebook-trusted-top")
        errors = [e for e in console_errors(driver) if "pyprofnb" in e or "srcdoc" in e]
        assert errors == []
    finally:
        stop_chromium(driver)
