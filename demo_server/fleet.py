"""A small fleet for notebook 06: three services built on the demo server, and traffic for them.

Each service is ``python -m demo_server.fleet --name NAME --port N``: the demo server (with
/debug/pprof) plus ``/work``, which does that service's kind of work in plain Python, and
``/deploy?version=2``, which switches the running code to version 2 (for search: a re-ranking
step that costs about as much again as the search itself)::

    frontend   render_page -> escape_html
    checkout   price_cart -> apply_discounts, compute_tax
    search     tokenize_query, score_documents  (+ rerank_with_synonyms in version 2)

`start_fleet` starts them as child processes that die with the process that started them
(Linux's parent-death signal, and an atexit hook), so a notebook whose cell fails does not
leave servers behind. `Traffic` sends requests to them from threads at rates you set.
"""
from __future__ import annotations

import argparse
import atexit
import ctypes
import dataclasses
import json
import math
import signal
import subprocess
import sys
import threading
import time
from urllib.parse import parse_qs, urlsplit

# --------------------------------------------------------------------------- the services

_VERSION = {"value": 1}
_DOCS = [f"document {i} about {'python go profiling fleet notebook'.split()[i % 5]} number {i * 7}" for i in range(4000)]


def escape_html(text: str) -> str:
    return "".join({"<": "&lt;", ">": "&gt;", "&": "&amp;"}.get(c, c) for c in text)


def render_page(n: int) -> str:
    rows = [f"<tr><td>{escape_html(str(i) + ' <item> & more')}</td></tr>" for i in range(n)]
    return "<table>" + "".join(rows) + "</table>"


def apply_discounts(prices: list[float]) -> list[float]:
    return [p * (0.9 if i % 3 == 0 else 1.0) for i, p in enumerate(prices)]


def compute_tax(prices: list[float]) -> float:
    return sum(round(p * 0.0825, 4) for p in prices)


def price_cart(n: int) -> float:
    prices = [math.sqrt(i + 1) * 3.5 for i in range(n)]
    discounted = apply_discounts(prices)
    return sum(discounted) + compute_tax(discounted)


def tokenize_query(query: str) -> list[str]:
    return [w.strip(".,").lower() for w in query.split() for _ in range(3)]


def score_documents(tokens: list[str]) -> list[tuple[int, int]]:
    return sorted(((sum(doc.count(t) for t in tokens), i) for i, doc in enumerate(_DOCS)), reverse=True)[:10]


def rerank_with_synonyms(results, tokens: list[str]):
    """Version 2's addition: looks up every token's synonyms in every document again."""
    synonyms = [t[::-1] for t in tokens] + [t.upper() for t in tokens]
    bonus = {i: sum(_DOCS[j].lower().count(s.lower()) for s in synonyms for j in range(i % 25, len(_DOCS), 25))
             for _, i in results}
    return sorted(results, key=lambda r: (r[0] + bonus[r[1]], r[1]), reverse=True)


def search(query: str):
    tokens = tokenize_query(query)
    results = score_documents(tokens)
    if _VERSION["value"] >= 2:
        results = rerank_with_synonyms(results, tokens)
    return results


WORK = {
    "frontend": lambda: len(render_page(2000)),
    "checkout": lambda: price_cart(12000),
    "search": lambda: search("python profiling notebook fleet"),
}


def main(argv: list[str] | None = None) -> int:
    import demo_server.app as app
    from pyprofnb.http.stdlib import send_response_once

    parser = argparse.ArgumentParser(prog="python -m demo_server.fleet", description=__doc__.split("\n\n")[0])
    parser.add_argument("--name", choices=sorted(WORK), required=True)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    work = WORK[args.name]

    def do_work(handler):
        body = json.dumps({"service": args.name, "version": _VERSION["value"], "result": str(work())[:40]}).encode()
        send_response_once(handler, 200, [("Content-Type", "application/json")], body)

    def deploy(handler):
        query = parse_qs(urlsplit(handler.path).query)
        _VERSION["value"] = int(query.get("version", ["2"])[0])
        send_response_once(handler, 200, [("Content-Type", "text/plain")], f"version {_VERSION['value']}\n".encode())

    app.ROUTES["/work"] = do_work
    app.ROUTES["/deploy"] = deploy
    return app.main(["--port", str(args.port)])


# --------------------------------------------------------------------------- running a fleet

def _die_with_parent() -> None:
    """In the child: get SIGTERM when the parent dies (Linux prctl PR_SET_PDEATHSIG)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: the atexit hook still stops them
        pass


@dataclasses.dataclass
class Service:
    name: str
    urls: list
    procs: list


class Fleet:
    """Running services: ``fleet.services["search"].urls``; `stop` ends them all."""

    def __init__(self):
        self.services: dict[str, Service] = {}
        atexit.register(self.stop)

    def start(self, name: str, workers: int = 1, timeout: float = 60) -> Service:
        from demo_server.launch import free_port

        urls, procs = [], []
        for _ in range(workers):
            port = free_port()
            proc = subprocess.Popen([sys.executable, "-m", "demo_server.fleet", "--name", name, "--port", str(port)],
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                    preexec_fn=_die_with_parent)
            procs.append(proc)
            line = _first_line(proc, timeout)
            if not line.startswith("listening on "):
                self.stop()
                raise RuntimeError(f"service {name} did not start: {line!r}")
            urls.append(line.split("listening on ", 1)[1].strip())
        self.services[name] = Service(name, urls, procs)
        return self.services[name]

    def stop(self) -> None:
        for service in self.services.values():
            for proc in service.procs:
                if proc.poll() is None:
                    proc.terminate()
            for proc in service.procs:
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()

    @property
    def running(self) -> bool:
        return any(p.poll() is None for s in self.services.values() for p in s.procs)


def _first_line(proc, timeout: float) -> str:
    out: list[str] = []
    reader = threading.Thread(target=lambda: out.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return out[0] if out else ""


class Traffic:
    """Requests to services from background threads, round robin over each service's URLs,
    at a rate per service you can change while it runs (``set_rate("search", 40)``)."""

    def __init__(self, fleet: Fleet, rates: dict[str, float], threads_per_service: int = 2):
        self.fleet = fleet
        self.rates = dict(rates)
        self.sent = {name: 0 for name in rates}
        self.errors = {name: 0 for name in rates}
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(name, k, threads_per_service), daemon=True)
                         for name in rates for k in range(threads_per_service)]
        for th in self._threads:
            th.start()

    def set_rate(self, name: str, rate: float) -> None:
        self.rates[name] = rate

    def _run(self, name: str, k: int, n_threads: int) -> None:
        import requests

        session = requests.Session()
        urls = self.fleet.services[name].urls
        i = k
        next_at = time.monotonic()
        while not self._stop.is_set():
            rate = self.rates.get(name, 0) / n_threads
            if rate <= 0:
                self._stop.wait(0.2)
                next_at = time.monotonic()
                continue
            try:
                session.get(urls[i % len(urls)] + "/work", timeout=10)
                self.sent[name] += 1
            except requests.RequestException:
                self.errors[name] += 1
            i += 1
            next_at = max(next_at + 1 / rate, time.monotonic() - 1)
            self._stop.wait(max(0.0, next_at - time.monotonic()))
        session.close()

    def stop(self) -> None:
        self._stop.set()
        for th in self._threads:
            th.join(15)


def start_fleet(checkout_workers: int = 4) -> Fleet:
    """frontend (1 process), search (1 process), checkout (``checkout_workers`` processes)."""
    fleet = Fleet()
    fleet.start("frontend")
    fleet.start("search")
    fleet.start("checkout", workers=checkout_workers)
    return fleet


if __name__ == "__main__":
    sys.exit(main())
