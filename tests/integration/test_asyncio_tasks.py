"""asyncio tasks as goroutines, in the FastAPI demo app under real uvicorn with hey's load:
``/report`` runs two named tasks ("fetch-prices", "fetch-stock") that await a slow backend,
then hash for a few milliseconds each."""
from __future__ import annotations

import asyncio

import pytest
import requests

from pyprofnb.codec.proto import decode
from pyprofnb.collect import aio
from servers import hey, running


def label_values(prof, key: str) -> set[str]:
    return {v for k, v in zip(prof.label_key, prof.label_str) if k == key}


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    with running("uvicorn", tmp_path_factory.mktemp("aio")) as (proc, url):
        yield url


def test_cpu_samples_carry_the_task(service, tmp_path, go_pprof):
    load = hey(service + "/report", seconds=5, c=8)
    try:
        body = requests.get(service + "/debug/pprof/profile?seconds=3", timeout=30).content
    finally:
        load.wait(30)
    prof = decode(body)
    assert {"fetch-prices", "fetch-stock"} <= label_values(prof, "task")
    path = tmp_path / "cpu.pb.gz"
    path.write_bytes(body)
    out = go_pprof("-top", "-tagfocus=task=fetch-prices", str(path))
    assert out.returncode == 0, out.stderr
    focused = out.stdout.split("flat%", 1)[1]
    assert "checksum" in focused and "fetch_prices" in focused and "fetch_stock" not in focused
    # fetch-prices hashes twice as many rounds as fetch-stock: it has about twice the CPU.
    col = [t.type for t in prof.sample_types].index("cpu")
    cpu = {name: 0 for name in ("fetch-prices", "fetch-stock")}
    for s, k, v in zip(prof.label_sample, prof.label_key, prof.label_str):
        if k == "task" and v in cpu:
            cpu[v] += prof.values[s, col]
    assert cpu["fetch-prices"] > 1.2 * cpu["fetch-stock"], cpu


def test_wall_profile_shows_where_tasks_await(service):
    load = hey(service + "/report", seconds=4, c=8)
    try:
        prof = decode(requests.get(service + "/debug/pprof/wall?seconds=2", timeout=30).content)
    finally:
        load.wait(30)
    # Samples of awaiting tasks: the task's coroutine, then asyncio.sleep as the leaf.
    found = set()
    for i in range(prof.n_samples):
        labels = {k: v for s, k, v in zip(prof.label_sample, prof.label_key, prof.label_str) if s == i}
        if labels.get("task_state") != "awaiting":
            continue
        locs = prof.stack_locs[prof.stack_offsets[i]:prof.stack_offsets[i + 1]]
        names = [prof.func_name[prof.line_func[prof.line_offsets[loc]]] for loc in locs]
        if labels.get("task") == "fetch-prices" and names[0] == "sleep":
            assert "fetch_prices" in names
            found.add("fetch-prices")
    assert found == {"fetch-prices"}


def test_goroutine_endpoint_lists_tasks(service):
    load = hey(service + "/report", seconds=3, c=8)
    try:
        dumps = [requests.get(service + "/debug/pprof/goroutine?debug=2", timeout=30).text for _ in range(10)]
        counts = requests.get(service + "/debug/pprof/goroutine?debug=1", timeout=30).text
        prof = decode(requests.get(service + "/debug/pprof/goroutine", timeout=30).content)
    finally:
        load.wait(30)
    text = "\n".join(dumps)
    assert 'task "fetch-prices" in thread ' in text
    block = text.split('task "fetch-prices"', 1)[1].split("\n\n", 1)[0]
    assert "[awaiting" in block.splitlines()[0] or "[running]" in block.splitlines()[0]
    assert "fetch_prices(...)" in block
    assert counts.startswith("goroutine profile: total ")
    assert any(name.startswith("Task-") or name in ("fetch-prices", "fetch-stock") for name in label_values(prof, "task"))


def test_snapshot_reads_await_chains_from_another_thread():
    """In-process: a loop in a thread, two tasks; the snapshot taken here shows each one's
    chain down to the innermost coroutine, and what it awaits."""
    import threading

    ready = threading.Event()
    release = None

    async def inner(event):
        await event.wait()

    async def outer(event):
        await inner(event)

    async def main():
        nonlocal release
        release = asyncio.Event()
        t = asyncio.create_task(outer(release), name="outer-task")
        await asyncio.sleep(0)
        ready.set()
        await t

    thread = threading.Thread(target=asyncio.run, args=(main(),), name="loop")
    thread.start()
    try:
        assert ready.wait(10)
        tasks = {t.name: t for t in aio.snapshot()}
        task = tasks["outer-task"]
        assert [f[0].rsplit(".", 1)[-1] for f in task.stack][:3] == ["wait", "inner", "outer"]
        assert task.thread == thread.ident and not task.running
        assert task.waiting_on.startswith("awaiting <Future pending")
        main_task = [t for n, t in tasks.items() if n != "outer-task" and t.thread == thread.ident]
        assert main_task and main_task[0].waiting_on == "awaiting task 'outer-task'"
    finally:
        loop = next(t for t in asyncio.tasks._all_tasks if t.get_name() == "outer-task").get_loop()
        loop.call_soon_threadsafe(release.set)
        thread.join(10)


def test_an_asyncio_service_of_our_own(go_pprof, tmp_path):
    """demo_server/asyncio_service.py: asyncio streams, no framework, /debug/pprof from the
    background debug server. Under load from 6 connections, the CPU profile splits by task:
    price-3 hashes 2400 rounds a request, audit 200, and the connection tasks renamed
    themselves "conn-<port>" in their first step."""
    import socket
    import sys
    import threading

    from demo_server.launch import free_port, start_command, stop_command

    port, debug_port = free_port(), free_port()
    proc, debug = start_command(sys.executable, "-m", "demo_server.asyncio_service", "--port", str(port),
                                "--debug-port", str(debug_port), port=debug_port)
    stop = threading.Event()

    def client():
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            reader = sock.makefile("rb")
            while not stop.is_set():
                sock.sendall(b"3\n")
                assert len(reader.readline().split()) == 2

    clients = [threading.Thread(target=client) for _ in range(6)]
    try:
        for c in clients:
            c.start()
        body = requests.get(debug + "/debug/pprof/profile?seconds=3", timeout=30).content
        dump = requests.get(debug + "/debug/pprof/goroutine?debug=2", timeout=30).text
    finally:
        stop.set()
        for c in clients:
            c.join(30)
        stop_command(proc)
    prof = decode(body)
    tasks = label_values(prof, "task")
    assert {"price-3", "audit"} <= tasks and any(t.startswith("conn-") for t in tasks), tasks
    assert dump.count('task "conn-') == 6
    path = tmp_path / "cpu.pb.gz"
    path.write_bytes(body)
    out = go_pprof("-top", "-tagfocus=task=price-3", str(path))
    assert out.returncode == 0, out.stderr
    focused = out.stdout.split("flat%", 1)[1]
    assert "checksum" in focused and "price" in focused and "audit" not in focused
