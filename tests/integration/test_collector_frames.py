"""The profiler's own work never shows in a user's profile.

A heap profile served by a live service used to lead with the profiler's allocations
(`ProfileBuilder.location`, `profile`, `_heap_profile`, `serve_pprof`): building one profile
allocates, and the next profile sampled those allocations. Here the real demo service gets
real load and is asked for every kind of profile several times (each request makes the
collector work), and then no sample of the profiles it serves may pass through the code that
collects, builds, encodes or serves profiles.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import requests

import pyprofnb
from demo_server.launch import Server
from pyprofnb.loadgen import run_load

PACKAGE = Path(pyprofnb.__file__).resolve().parent
# Frames a user's request legitimately passes through: the one-line hook that routes
# /debug/pprof paths (`_hooked.<locals>.do`) and the response helper the demo app calls
# (with what runs inside it).
ALLOWED = {("http/stdlib.py", "_hooked.<locals>.do"), ("http/stdlib.py", "send_response_once")}


def allowed(rel: str, function: str) -> bool:
    return (rel, function.split(".<locals>.")[0] if function.startswith("send_response_once") else function) in ALLOWED


def collector_stacks(prof: pyprofnb.Profile, sample_type: str) -> list[str]:
    """The stacks (leaf first, "fn (file)") of samples with a value of ``sample_type`` that
    run through the profiler's own code."""
    frames = prof.frames_df()
    values = prof.samples_df()[sample_type]
    bad = []
    for sample, rows in frames.groupby("sample"):
        if values.loc[sample] == 0:
            continue
        names = []
        own = False
        for fn, file in zip(rows["function"], rows["file"]):
            path = Path(str(file))
            try:
                rel = path.resolve().relative_to(PACKAGE).as_posix()
            except (ValueError, OSError):
                rel = None
            if rel is not None and not allowed(rel, fn):
                own = True
            names.append(f"{fn} ({rel or path.name})")
        if own:
            bad.append(" <- ".join(names))
    return bad


@pytest.fixture(scope="module")
def busy_service():
    """A demo service that has served load and every profile kind, several times over."""
    with Server("-m", "demo_server") as server:
        url = server.url
        run_load(url + "/sendjson", n=1500, c=4, method="POST", progress=False)
        for _ in range(3):
            for path in ("heap", "heap?debug=1", "allocs", "allocs?debug=1", "goroutine?debug=1", "", "threadcreate"):
                requests.get(f"{url}/debug/pprof/{path}", timeout=60).raise_for_status()
            run_load(url + "/sendjson", n=300, c=4, method="POST", progress=False)
        yield url


@pytest.mark.parametrize("endpoint", ["heap", "allocs"])
@pytest.mark.parametrize("sample_type", ["inuse_space", "alloc_space"])
def test_served_heap_profile_has_no_collector_frames(busy_service, endpoint, sample_type):
    prof = pyprofnb.load(f"{busy_service}/debug/pprof/{endpoint}")
    assert prof.total("alloc_space") > 1_000_000  # the load was seen: the check has data to look at
    bad = collector_stacks(prof, sample_type)
    assert not bad, f"{len(bad)} {sample_type} samples of /{endpoint} run through the profiler:\n" + "\n".join(bad[:10])


def test_user_code_leads_the_heap_profile(busy_service):
    """What a reader sees first: the top rows of the allocation profile are the service's."""
    top = pyprofnb.load(f"{busy_service}/debug/pprof/heap").top(sample_index="alloc_space", nodecount=10)
    own = [name for name, file in zip(top.index, top["file"])
           if Path(str(file)).resolve().is_relative_to(PACKAGE)
           and not allowed(Path(str(file)).resolve().relative_to(PACKAGE).as_posix(), name)]
    assert not own, f"the profiler's own functions in the top 10: {own}"
