"""Fleets: real demo servers under load, scraped into a Parquet store; the store's answers
compared with merging the same profiles, with our reports and with `go tool pprof`; a scraper
killed with SIGKILL mid-write; SIGINT; bad configs."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import requests

import pyprofnb
import pyprofnb.store
from demo_server.launch import start_server, stop_server
from gotools import from_showing
from pyprofnb.errors import OptionError
from pyprofnb.fleet import Scraper, load_config
from pyprofnb.fleet.store import StoreError
from pyprofnb.loadgen import run_load

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def servers():
    """Two real demo servers: (process, url) each."""
    started = []
    try:
        for _ in range(2):
            started.append(start_server("-m", "demo_server", cwd=REPO))
        yield [url for _, url in started]
    finally:
        for proc, _ in started:
            stop_server(proc)


@pytest.fixture(scope="module")
def scraped(servers, tmp_path_factory):
    """Both servers under load (api busier than web), scraped every 2 s for about 9 s.
    Returns (store, scraper, events)."""
    path = tmp_path_factory.mktemp("fleet") / "store"
    config = {"interval": "2s", "profiles": ["profile", "heap", "allocs"],
              "jobs": [{"name": "api", "targets": [servers[0]], "labels": {"env": "test"}},
                       {"name": "web", "targets": [servers[1]]}]}
    loads = [run_load(servers[0] + "/sendjson", duration=12, c=4, method="POST", background=True, progress=False),
             run_load(servers[1] + "/sendjson", duration=12, c=2, qps=100, method="POST", background=True,
                      progress=False)]
    events = []
    try:
        time.sleep(1)
        scraper = Scraper(config, path, on_event=events.append)
        scraper.run(9)
    finally:
        for run in loads:
            run.wait()
    return pyprofnb.store.open(path), scraper, events


# ------------------------------------------------------------------ storing

def test_profiles_read_back_identical(tmp_path, demo_server, go_profiles):
    """Any profile goes in and comes back the same: our server's bytes byte for byte; Go's
    profiles (whose encoder orders strings differently) as the same Profile, i.e. the same
    canonical encoding."""
    store = pyprofnb.store.open(tmp_path / "s", create=True)
    run_load(demo_server + "/sendjson", n=500, c=4, progress=False)
    ours = {name: requests.get(f"{demo_server}/debug/pprof/{name}", timeout=30).content
            for name in ("heap", "allocs", "goroutine")}
    ours["profile"] = requests.get(f"{demo_server}/debug/pprof/profile?seconds=1", timeout=30).content
    for name, data in ours.items():
        pid = store.add(data, labels={"job": "demo"}, kind=name)
        assert store.profile(pid).to_bytes() == data, name
    for name, path in go_profiles.items():
        pid = store.add(path, labels={"job": "go"})  # a file (heap_text is the legacy text format)
        original = pyprofnb.load(path, all_frames=True)
        back = store.profile(pid)
        assert back.to_bytes() == original.to_bytes(), name
        assert back.n_samples == original.n_samples and back.totals() == original.totals()
    pid = store.add(demo_server + "/debug/pprof/heap", labels={"job": "url"})  # and a URL
    assert store.profile(pid).n_samples > 0
    listed = store.profiles()
    assert len(listed) == len(ours) + len(go_profiles) + 1
    assert set(listed["kind"]) == {"profile", "heap", "allocs", "goroutine"}
    # Without a kind, it is guessed from the sample types (allocs and heap look alike).
    assert set(listed[listed["labels"].map(lambda x: dict(x)["job"]) == "go"]["kind"]) == {"profile", "heap", "goroutine"}


def test_store_errors_are_one_line(tmp_path):
    with pytest.raises(StoreError, match="is not a pyprofnb profile store"):
        pyprofnb.store.open(tmp_path / "nothing")
    store = pyprofnb.store.open(tmp_path / "s", create=True)
    with pytest.raises(StoreError, match="no profile with id 42"):
        store.profile(42)
    with pytest.raises(StoreError, match="no stored 'profile' profile"):
        store.top()
    with pytest.raises(OptionError, match="not a time"):
        store.profiles(start="yesterday-ish")


# ------------------------------------------------------------------ scraping

def test_scrape_labels_and_delta_semantics(scraped, servers):
    store, scraper, events = scraped
    listed = store.profiles()
    status = scraper.status()
    assert status["failures"].sum() == 0, status
    assert set(listed["kind"]) == {"profile", "heap", "allocs"}
    labels = [dict(x) for x in listed["labels"]]
    assert {(lab["job"], lab["instance"]) for lab in labels} == {
        ("api", servers[0].removeprefix("http://")), ("web", servers[1].removeprefix("http://"))}
    assert all(lab.get("env") == "test" for lab in labels if lab["job"] == "api")
    cpu = listed[listed["kind"] == "profile"]
    # Delta profiles asked for seconds=2: each covers 2 s, and they tile time.
    assert cpu["duration_nanos"].between(2 * 10**9, 5 * 10**9).all(), cpu["duration_nanos"].tolist()
    for _, one in cpu.groupby(cpu["labels"].map(lambda x: dict(x)["job"])):
        gaps = np.diff(np.sort(one["time_nanos"].to_numpy())) / 1e9
        assert ((gaps >= 2.0) & (gaps < 6)).all(), gaps  # back to back, never overlapping
    assert cpu["profile_type"].iloc[0] == "process_cpu:cpu:nanoseconds:cpu:nanoseconds:delta"
    assert (cpu.groupby(cpu["labels"].map(lambda x: dict(x)["job"])).size() >= 2).all()
    assert len(listed[listed["kind"] == "heap"]) >= 6  # a snapshot every 2 s per target, 9 s
    stored_ids = {e.profile_id for e in events if e.kind == "stored"}
    assert stored_ids == set(listed["profile_id"])


def test_failing_targets_are_retried_with_backoff_and_do_not_stop_others(servers, tmp_path):
    """A refused port and a server that answers 500 fail, back off 1, 2, 4 s, and are
    reported; the live target keeps being stored meanwhile."""
    import http.server

    class Broken(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(500)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"boom")

        def log_message(self, *args):
            pass

    broken = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Broken)
    threading.Thread(target=broken.serve_forever, daemon=True).start()
    from demo_server.launch import free_port

    dead = f"127.0.0.1:{free_port()}"
    config = {"interval": "1s", "profiles": ["heap"],
              "jobs": [{"name": "ok", "targets": [servers[0]]},
                       {"name": "bad", "targets": [dead, f"127.0.0.1:{broken.server_address[1]}"]}]}
    events = []
    try:
        scraper = Scraper(config, tmp_path / "s", on_event=events.append).start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            status = scraper.status().set_index("job")
            if status.loc["ok", "stored"] >= 4 and (status.loc["bad", "failures"] >= 3).all():
                break
            time.sleep(0.2)
        scraper.stop()
    finally:
        broken.shutdown()
    status = scraper.status().set_index("job")
    assert status.loc["ok", "stored"] >= 4
    bad = status.loc["bad"]
    assert (bad["stored"] == 0).all() and (bad["failures"] >= 2).all()
    assert bad["last_error"].str.contains("cannot connect|500").all()
    for target in (dead, f"127.0.0.1:{broken.server_address[1]}"):
        delays = [e.message.rsplit("in ", 1)[1] for e in events if e.kind == "retry" and target in e.message]
        assert delays[:3] == ["1 s", "2 s", "4 s"]
    assert "failing now" in scraper.summary()


def test_memory_stays_bounded_when_the_store_falls_behind(servers, tmp_path):
    """A store slower than the scrapes: at most max_pending profiles wait, the rest are
    dropped and counted; a response above max_bytes is refused, not buffered."""
    config = {"interval": "200ms", "profiles": ["heap", "goroutine"],
              "jobs": [{"name": "api", "targets": servers}]}
    scraper = Scraper(config, tmp_path / "s", max_pending=2, flush_interval=0.1, max_batch=1)
    real_append = scraper.store.append
    depth = []

    def slow_append(items):  # a disk that takes a second per write
        depth.append(scraper._queue.qsize())
        time.sleep(1.0)
        return real_append(items)

    scraper.store.append = slow_append
    scraper.run(4)
    status = scraper.status()
    assert status["dropped"].sum() > 0 and status["stored"].sum() >= 2
    assert max(depth) <= 2
    small = Scraper({"interval": "1s", "profiles": ["heap"], "jobs": [{"name": "api", "targets": servers[:1]}]},
                    tmp_path / "s2", max_bytes=100)
    small.run(1.5)
    assert "larger than 100 bytes" in small.status()["last_error"].iloc[0]


def test_config_errors_name_the_problem(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('interval = "soon"\n[[jobs]]\nname = "a"\ntargets = ["x:1"]\n')
    with pytest.raises(OptionError, match="interval must be a duration"):
        load_config(bad)
    bad.write_text('[[jobs]]\nname = "a"\n')
    with pytest.raises(OptionError, match=r"jobs\[0\] \(a\) needs targets"):
        load_config(bad)
    bad.write_text("[[jobs]\n")
    with pytest.raises(OptionError, match="is not valid TOML"):
        load_config(bad)
    with pytest.raises(OptionError, match="cannot read scrape config"):
        load_config(tmp_path / "missing.toml")
    bad.write_text('[[jobs]]\nname = "a"\ntargets = ["x:1"]\nlabels = { job = "b" }\n')
    with pytest.raises(OptionError, match="set by the scraper"):
        load_config(bad)
    out = subprocess.run([sys.executable, "-m", "pyprofnb", "scrape", str(bad)], capture_output=True, text=True,
                         timeout=60, cwd=REPO)
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "set by the scraper" in out.stderr


def _scrape_process(config_path: Path, store: Path):
    return subprocess.Popen([sys.executable, "-m", "pyprofnb", "scrape", str(config_path), "--store", str(store)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)


def test_kill_9_mid_write_loses_nothing_committed(servers, tmp_path):
    """SIGKILL the scraper while a Parquet file is being written (a temporary file exists):
    the store still opens, every profile the scraper reported as stored is there and reads
    back whole, no half file is visible, and the next writer removes the leftover."""
    store_path = tmp_path / "store"
    config = tmp_path / "fleet.toml"
    config.write_text(f'interval = "1s"\nprofiles = ["heap", "allocs", "goroutine"]\n'
                      f'[[jobs]]\nname = "api"\ntargets = {json.dumps(servers)}\n')
    proc = _scrape_process(config, store_path)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()
    caught = None
    try:
        started = time.monotonic()
        while time.monotonic() < started + 90 and caught is None:
            time.sleep(0.0005)
            if len(lines) < 6:  # let a few appends commit first
                continue
            for root, _, files in os.walk(store_path):
                tmp = [f for f in files if f.startswith(".part-") and f.endswith(".tmp")]
                if tmp:
                    os.kill(proc.pid, signal.SIGKILL)
                    caught = os.path.join(root, tmp[0])
                    break
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
        reader.join(timeout=30)
        err = proc.stderr.read()
    out = "".join(lines)
    assert caught, f"never saw the scraper mid-write within 60 s: {err}"
    assert proc.returncode == -signal.SIGKILL
    reported = {int(line.split()[1]) for line in out.splitlines() if line.startswith("stored ")}
    assert reported, err
    assert os.path.exists(caught), "the half-written file vanished: was the kill really mid-write?"

    store = pyprofnb.store.open(store_path)
    listed = store.profiles()
    assert reported <= set(listed["profile_id"])
    for pid, n in zip(listed["profile_id"], listed["n_samples"]):
        assert store.profile(pid).n_samples == n
    import pyarrow.parquet as pq

    for path in store_path.rglob("*.parquet"):
        pq.read_metadata(path)  # every visible file is whole
    store.add(pyprofnb.load(store.profile(int(listed["profile_id"].iloc[0])).to_bytes()), labels={"job": "after"})
    assert not os.path.exists(caught), "the next writer should remove a dead writer's temporary file"


def test_sigint_stops_cleanly(servers, tmp_path):
    config = tmp_path / "fleet.toml"
    config.write_text(f'interval = "1s"\nprofiles = ["heap", "profile"]\n'
                      f'[[jobs]]\nname = "api"\ntargets = ["{servers[0]}"]\n')
    proc = _scrape_process(config, tmp_path / "store")
    try:
        deadline = time.monotonic() + 60
        lines = []
        while time.monotonic() < deadline and len(lines) < 3:
            line = proc.stdout.readline()
            if line.startswith("stored "):
                lines.append(line)
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert time.monotonic() - started < 10
    assert "stored" in err.splitlines()[-1] and "Traceback" not in err
    store = pyprofnb.store.open(tmp_path / "store")
    assert len(store.profiles()) >= 3


# ------------------------------------------------------------------ querying

def _window_profiles(store, kind, **labels):
    listed = store.profiles(kind=kind, **labels)
    return [store.profile(pid) for pid in listed["profile_id"]], listed


def _by_name(frame):
    return {name: (int(f), int(c)) for name, f, c in zip(frame.index, frame["flat"], frame["cum"])}


@pytest.mark.parametrize("kind,sample_type", [("profile", None), ("allocs", "alloc_space"), ("heap", "inuse_objects")])
def test_top_equals_merge_report_and_go_pprof(scraped, go_pprof, tmp_path, kind, sample_type):
    store = scraped[0]
    profiles, _ = _window_profiles(store, kind, job="api")
    merged_by_hand = pyprofnb.merge(profiles)
    report = merged_by_hand.top(sample_index=sample_type, nodefraction=0)
    top = store.top(kind=kind, sample_type=sample_type, n=None, job="api")
    assert top.attrs["total"] == merged_by_hand.total(sample_type) > 0
    if kind == "profile":
        assert top.attrs["total"] > 50 * 10_000_000  # far more than one 10 ms tick
    assert _by_name(top) == _by_name(report)
    assert list(store.top(kind=kind, sample_type=sample_type, n=5, job="api").index) == list(top.index[:5])

    merged = store.merged(kind=kind, job="api")
    assert merged.n_samples == merged_by_hand.n_samples and merged.totals() == merged_by_hand.totals()
    assert merged.text("top", sample_index=sample_type, nodefraction=0) == report_text(merged_by_hand, sample_type)
    path = tmp_path / "merged.pb.gz"
    merged.save(path)
    flags = ["-top", "-nodefraction=0"] + ([f"-sample_index={sample_type}"] if sample_type else [])
    go = go_pprof(*flags, str(path))
    assert go.returncode == 0, go.stderr
    assert from_showing(go.stdout) == from_showing(merged.text("top", sample_index=sample_type, nodefraction=0))


def report_text(prof, sample_type):
    return prof.text("top", sample_index=sample_type, nodefraction=0)


def test_window_and_label_selection(scraped):
    store = scraped[0]
    listed = store.profiles(kind="profile")
    times = sorted(listed["time_nanos"])
    cut = (times[len(times) // 2 - 1] + times[len(times) // 2]) / 2 / 1e9
    early = store.profiles(kind="profile", end=cut)
    late = store.profiles(kind="profile", start=cut)
    assert len(early) + len(late) == len(listed) and len(early) and len(late)
    both = store.top(kind="profile", n=None, job=["api", "web"])
    assert both.attrs["total"] == store.top(kind="profile", n=None).attrs["total"]
    web = store.top(kind="profile", n=None, job="web", start=cut)
    profiles = [store.profile(pid) for pid, lab in zip(late["profile_id"], late["labels"]) if dict(lab)["job"] == "web"]
    assert _by_name(web) == _by_name(pyprofnb.merge(profiles).top(nodefraction=0))


def test_diff_between_windows_equals_diff_base(scraped):
    store = scraped[0]
    listed = store.profiles(kind="allocs", job="api")
    times = sorted(listed["time_nanos"])
    cut = (times[len(times) // 2 - 1] + times[len(times) // 2]) / 2 / 1e9
    diff = store.diff(before=(None, cut), after=(cut, None), kind="allocs", sample_type="alloc_space", n=None,
                      job="api")
    before = pyprofnb.merge([store.profile(p) for p, t in zip(listed["profile_id"], listed["time_nanos"]) if t < cut * 1e9])
    after = pyprofnb.merge([store.profile(p) for p, t in zip(listed["profile_id"], listed["time_nanos"]) if t >= cut * 1e9])
    report = pyprofnb.load(after, diff_base=before, all_frames=True).top(sample_index="alloc_space", nodefraction=0)
    got = {n: (int(f), int(c)) for n, f, c in zip(diff.index, diff["flat_delta"], diff["cum_delta"]) if f or c}
    assert got == _by_name(report[(report["flat"] != 0) | (report["cum"] != 0)])
    assert diff.attrs["base_total"] == before.total("alloc_space")
    assert diff.attrs["total"] == after.total("alloc_space")


def test_totals_over_time_per_label(scraped):
    store = scraped[0]
    table = store.totals(by="job", kind="profile")
    assert list(table.columns) == ["api", "web"]
    listed = store.profiles(kind="profile")
    for job in ("api", "web"):
        mine = listed[listed["labels"].map(lambda x: dict(x)["job"]) == job]
        assert table[job].sum() == sum(store.profile(p).total("cpu") for p in mine["profile_id"])
    # api had twice the workers and no rate limit: it burned more CPU.
    assert table["api"].sum() > table["web"].sum()
    bucketed = store.totals(by="job", kind="profile", every="1min")
    assert bucketed.values.sum() == table.values.sum()
    # rate=True: each profile's CPU per second of its duration, i.e. nanoseconds of CPU per second.
    rates = store.totals(by="job", kind="profile", rate=True)
    for job in ("api", "web"):
        mine = listed[listed["labels"].map(lambda x: dict(x)["job"]) == job]
        expected = sorted(t / (d / 1e9) for t, d in zip(mine["totals"].map(lambda t: t[1]), mine["duration_nanos"]))
        assert sorted(rates[job].dropna()) == pytest.approx(expected)


def test_duckdb_sql_over_the_views(scraped):
    store = scraped[0]
    frame = store.sql("SELECT labels['job'] AS job, count(*) AS n FROM profiles WHERE kind = 'heap' "
                      "GROUP BY ALL ORDER BY job")
    assert list(frame["job"]) == ["api", "web"] and (frame["n"] >= 4).all()
    frames = store.sql("SELECT count(*) AS n FROM frames WHERE name = 'send_json'")
    assert frames["n"].iloc[0] > 0
