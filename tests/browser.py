"""A real headless Chromium (Debian's chromium + chromium-driver) driven by Selenium, for the
web UI and JupyterLab tests; and a CPU profile of the demo server busy under load.

Chromium runs with a fresh profile directory, no sandbox (tests run as root), no GPU and
no background network (component updates, sync): the pages under test make no request
outside 127.0.0.1.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

import requests

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
SHOTS = Path(os.environ.get("PYPROFNB_SCREENSHOTS", tempfile.gettempdir())) / "pyprofnb-screenshots"


def have_browser() -> str | None:
    """None when Chromium and its driver are installed, else what is missing."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.path.exists(p)]
    return None if not missing else "missing " + ", ".join(missing) + " (Debian chromium, chromium-driver: make system-deps)"


def start_chromium(width: int = 1300, height: int = 900):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="pyprofnb-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                f"--user-data-dir={profile}", f"--window-size={width},{height}"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver._pyprofnb_profile = profile
    return driver


def stop_chromium(driver) -> None:
    try:
        driver.quit()
    finally:
        shutil.rmtree(getattr(driver, "_pyprofnb_profile", ""), ignore_errors=True)


def console_errors(driver) -> list[str]:
    """Console messages at level SEVERE since the last call (favicon misses excluded)."""
    return [e["message"] for e in driver.get_log("browser")
            if e["level"] == "SEVERE" and "favicon" not in e["message"]]


def screenshot(driver, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path


def wait_for(predicate, timeout: float = 20.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except Exception as exc:  # the page may be between loads
            last = exc
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what} (last: {last!r})")


def busy_heap_profile(base_url: str, seconds: int = 3) -> bytes:
    """The demo server's heap profile after ``seconds`` of load: its sampling is always on, so
    it has samples however little CPU a loaded machine gives the server."""
    busy_cpu_profile(base_url, seconds=seconds, clients=2)
    resp = requests.get(f"{base_url}/debug/pprof/heap", timeout=30)
    resp.raise_for_status()
    return resp.content


def busy_cpu_profile(base_url: str, seconds: int = 3, clients: int = 4) -> bytes:
    """A CPU profile of the demo server taken while ``clients`` threads post to /sendjson.
    The load runs in a child process so the server, not this process, spends the CPU."""
    import subprocess
    import sys

    code = (
        "import requests,sys,time\n"
        "s=requests.Session();end=time.time()+float(sys.argv[2])\n"
        "while time.time()<end: s.post(sys.argv[1]+'/sendjson')\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code, base_url, str(seconds + 1.5)]) for _ in range(clients)]
    try:
        time.sleep(0.3)
        resp = requests.get(f"{base_url}/debug/pprof/profile", params={"seconds": seconds}, timeout=seconds + 30)
        resp.raise_for_status()
        return resp.content
    finally:
        for p in procs:
            p.wait(timeout=seconds + 30)


class ServerThread:
    """pyprofnb's web UI server on a free port, in this process."""

    def __init__(self, session):
        from pyprofnb.web.server import WebServer

        self.server = WebServer(session, "127.0.0.1", 0)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self.server

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)
