"""``pyprofnb -http``'s UI in a real headless Chromium, on live profiles of the demo server:
views, sample types, sorting, selecting a graph node and focusing on it, flame graph zoom and
search kept in the URL across a reload, a base set and compared after a refresh, peek and
source, and no console errors anywhere."""
from __future__ import annotations

import re
import subprocess
import sys
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.support.ui import Select

from browser import (ServerThread, busy_cpu_profile, console_errors, have_browser, screenshot, start_chromium,
                     stop_chromium, wait_for)
from pyprofnb.web.server import Session


@pytest.fixture(scope="module")
def heap_url(demo_server):
    if have_browser():
        pytest.fail(have_browser())
    busy_cpu_profile(demo_server, seconds=2, clients=2)  # some allocations to see
    return f"{demo_server}/debug/pprof/heap"


@pytest.fixture(scope="module")
def ui(heap_url):
    with ServerThread(Session([heap_url])) as server:
        yield server.url


@pytest.fixture(scope="module")
def driver():
    d = start_chromium(1400, 950)
    try:
        yield d
    finally:
        stop_chromium(d)


def query(driver) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(driver.current_url).query).items()}


def visible(driver, css):
    return [e for e in driver.find_elements("css selector", css) if e.is_displayed()]


def no_errors(driver):
    errors = console_errors(driver)
    assert errors == [], errors


def test_views_sample_types_and_sorting(driver, ui):
    driver.get(f"{ui}/ui/top?si=alloc_space")
    rows = wait_for(lambda: visible(driver, ".pp-table tbody tr"), what="top rows")
    assert len(rows) > 5
    driver.find_element("css selector", '.pp-table th[data-col="3"]').click()  # cum
    assert query(driver)["ts"] == "3"
    cums = [int(r.find_elements("css selector", "td")[3].get_attribute("data-v"))
            for r in driver.find_elements("css selector", ".pp-table tbody tr")]
    assert cums == sorted(cums, key=abs, reverse=True) and cums[0] > 0
    Select(driver.find_element("id", "pp-si")).select_by_value("alloc_objects")
    wait_for(lambda: query(driver).get("si") == "alloc_objects", what="sample type in the URL")
    header = wait_for(lambda: visible(driver, "pre.pp-header"), what="top header")[0].text
    assert "Type: alloc_objects" in header
    screenshot(driver, "web-top")
    for view, css in (("graph", ".pp-graph-svg svg g.node"), ("flame", ".pyprofnb-flame .pf-r"),
                      ("peek", "pre.pp-text"), ("source", ".pyprofnb-weblist h2")):
        driver.find_element("css selector", f'.pp-views a[data-view="{view}"]').click()
        wait_for(lambda: query(driver).get("view") == view or (view == "graph" and "view" not in query(driver)),
                 what=f"{view} in the URL")
        assert wait_for(lambda: visible(driver, css), what=f"the {view} view"), view
        assert query(driver).get("si") == "alloc_objects"  # the sample type stays
        screenshot(driver, f"web-{view}")
    no_errors(driver)


def test_click_a_graph_node_to_focus(driver, ui):
    driver.get(f"{ui}/ui/?si=alloc_space")
    nodes = wait_for(lambda: [n for n in driver.find_elements("css selector", ".pp-graph-svg g.node")
                              if n.get_attribute("data-fn")], what="graph nodes")
    # A node in view (the graph opens at a legible size, so some are outside), not the root.
    box = driver.find_element("css selector", ".pp-graph-svg").rect
    in_view = [n for n in nodes[1:] if box["y"] < n.rect["y"] and n.rect["y"] + n.rect["height"] < box["y"] + box["height"]
               and box["x"] < n.rect["x"] and n.rect["x"] + n.rect["width"] < box["x"] + box["width"]]
    assert in_view, "no graph node in view"
    target = in_view[-1]
    name = target.get_attribute("data-fn")
    ActionChains(driver).move_to_element(target).click().perform()
    search = driver.find_element("id", "pp-search")
    wait_for(lambda: re.fullmatch(search.get_attribute("value"), name) and search.get_attribute("value").startswith("^"),
             what="the node's regexp in the search box")
    assert "pp-sel" in target.get_attribute("class")
    driver.find_element("css selector", '[data-refine="f"]').click()
    wait_for(lambda: query(driver).get("f", "").startswith("^"), what="focus in the URL")
    assert "focus=" in driver.find_element("id", "pp-sub").text
    focused = wait_for(lambda: [n.get_attribute("data-fn") for n in driver.find_elements(
        "css selector", ".pp-graph-svg g.node") if n.get_attribute("data-fn")], what="the focused graph")
    assert name in focused
    screenshot(driver, "web-graph-focused")
    # The top table under the same focus: every row's cum is within the focused function's.
    driver.find_element("css selector", '.pp-views a[data-view="top"]').click()
    wait_for(lambda: query(driver).get("view") == "top", what="top view")
    assert "Active filters:" in visible(driver, "pre.pp-header")[0].text
    no_errors(driver)


def test_flame_zoom_and_search_survive_a_reload(driver, ui):
    driver.get(f"{ui}/ui/flamegraph?si=alloc_space")
    boxes = wait_for(lambda: visible(driver, ".pf-r"), what="flame boxes")
    deep = [b for b in boxes if int(b.get_attribute("data-i")) > 0 and b.size["width"] > 30]
    target = max(deep, key=lambda b: int(b.value_of_css_property("top").rstrip("px")) if b.size["width"] > 30 else 0)
    index = target.get_attribute("data-i")
    target.click()
    wait_for(lambda: query(driver).get("zoom") == index, what="zoom in the URL")
    assert target.get_attribute("style").count("width: 100%") == 1
    search = driver.find_element("css selector", ".pf-search")
    search.send_keys("json")
    wait_for(lambda: query(driver).get("q") == "json", what="search in the URL")
    matches = len(driver.find_elements("css selector", ".pf-r.pf-match"))
    assert matches > 0
    screenshot(driver, "web-flame-zoomed")
    driver.refresh()
    wait_for(lambda: visible(driver, ".pf-r"), what="flame boxes after reload")
    again = driver.find_element("css selector", f'.pf-r[data-i="{index}"]')
    wait_for(lambda: "width: 100%" in again.get_attribute("style"), what="the zoom restored")
    assert driver.find_element("css selector", ".pf-search").get_attribute("value") == "json"
    assert len(driver.find_elements("css selector", ".pf-r.pf-match")) == matches
    no_errors(driver)


def test_set_base_refresh_and_compare(driver, ui, heap_url):
    driver.get(f"{ui}/ui/flamegraph?si=alloc_space")
    wait_for(lambda: visible(driver, ".pf-r"), what="flame boxes")
    driver.find_element("id", "pp-setbase").click()
    wait_for(lambda: query(driver).get("base") == "0", what="base=0 in the URL")
    base = urlsplit(heap_url)
    code = ("import requests,sys\ns=requests.Session()\n"
            "[s.post(sys.argv[1]+'/sendjson') for _ in range(400)]\n")
    subprocess.run([sys.executable, "-c", code, f"{base.scheme}://{base.netloc}"], check=True, timeout=120)
    driver.find_element("id", "pp-refresh").click()
    wait_for(lambda: query(driver).get("p") == "1", 60, what="the new snapshot in the URL")
    assert query(driver)["base"] == "0"
    legend = wait_for(lambda: visible(driver, ".pf-legend"), what="the differential legend")[0].text
    assert "grew" in legend and "shrank" in legend
    assert "compared with snapshot #0" in driver.find_element("id", "pp-sub").text
    colours = {b.value_of_css_property("background-color") for b in visible(driver, ".pf-r")[:200]}
    assert any(c.startswith("rgba(2") and ", 5" in c or "220" in c for c in colours), colours  # reds of growth
    screenshot(driver, "web-flame-diff")
    driver.refresh()
    wait_for(lambda: visible(driver, ".pf-legend"), what="the comparison after a reload")
    no_errors(driver)


def test_download_and_bad_urls(ui):
    data = requests.get(f"{ui}/download?si=alloc_space", timeout=30)
    assert data.status_code == 200 and data.content[:2] == b"\x1f\x8b"
    bad = requests.get(f"{ui}/ui/top?f=(", timeout=30)
    assert bad.status_code == 400 and "focus regexp" in bad.text
    assert requests.get(f"{ui}/ui/nothing", timeout=30).status_code == 404
    assert requests.get(f"{ui}/ui/top?p=99", timeout=30).status_code == 400


def test_command_line_serves_the_ui(tmp_path, heap_url):
    """``pyprofnb -http=127.0.0.1:0 -no_browser URL`` prints where it serves, as Go does."""
    proc = subprocess.Popen([sys.executable, "-m", "pyprofnb", "-http=127.0.0.1:0", "-no_browser", heap_url],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("Serving web UI on http://localhost:"), line + proc.stderr.read()
        url = line.split()[-1]
        page = wait_for(lambda: requests.get(f"{url}/ui/top?si=alloc_space", timeout=10), what="the UI")
        assert page.status_code == 200 and "pp-table" in page.text
        # Self-contained: nothing loaded from anywhere (no CDN, no font, no stylesheet link).
        assert not re.search(r'(src|href)\s*=\s*["\']?(https?:)?//', page.text) and "<link" not in page.text
        assert "@import" not in page.text and "url(http" not in page.text
    finally:
        proc.terminate()
        proc.wait(10)
