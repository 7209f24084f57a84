"""hey's two outputs, the summary and `-o csv`, computed from a run's per-request columns.

Every number follows hey's own arithmetic (requester/report.go), so the two tools' reports
can be laid side by side: requests/s counts errors, latencies and sizes count only responses,
sizes are the responses' Content-Length, percentiles and histogram buckets are picked the way
hey picks them. One deliberate difference: the Details' fastest/slowest columns are the
fastest and slowest of each phase (hey's releases before 2021 printed total latencies there).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

PERCENTILES = (10, 25, 50, 75, 90, 95, 99)
PHASES = (  # (label in the summary, column)
    ("DNS+dialup", "dns_dialup"),
    ("DNS-lookup", "dns_lookup"),
    ("req write", "req_write"),
    ("resp wait", "resp_wait"),
    ("resp read", "resp_read"),
)
_BAR = "\u25a0"


def fmt(x: float) -> str:
    """Go's %4.4f, NaN and infinities included."""
    if math.isnan(x):
        return " NaN"
    if math.isinf(x):
        return "+Inf" if x > 0 else "-Inf"
    return f"{x:4.4f}"


@dataclass(frozen=True)
class Stats:
    """The figures of hey's summary."""

    total: float
    count: int
    rps: float
    fastest: float
    slowest: float
    average: float
    size_total: int
    size_per_request: int
    histogram: list  # [(mark, count)]
    percentiles: list  # [(percent, latency)], hey's zero rows kept
    phases: dict  # column -> (average, fastest, slowest)
    status_codes: dict  # code -> count, sorted by code
    errors: dict  # reason -> count, sorted by reason


def compute(cols: dict, errors: list[str], total: float) -> Stats:
    """cols: per-request arrays (latency, status, content_length, error, phase columns)."""
    ok = cols["error"] < 0
    lats = np.sort(cols["latency"][ok])
    count = int(len(cols["latency"]))
    n_ok = len(lats)
    with np.errstate(invalid="ignore", divide="ignore"):
        rps = count / total if total > 0 else float("nan")
    phases = {}
    for _, name in PHASES:
        v = cols[name][ok]
        if n_ok:
            phases[name] = (float(v.sum() / n_ok), float(v.min()), float(v.max()))
        else:
            phases[name] = (float("nan"), 0.0, 0.0)
    clen = cols["content_length"][ok]
    size_total = int(clen[clen > 0].sum())
    err_counts = np.bincount(cols["error"][~ok], minlength=len(errors)) if count > n_ok else []
    error_dist = {errors[i]: int(c) for i, c in enumerate(err_counts) if c}
    if not n_ok:
        return Stats(total, count, rps, 0.0, 0.0, float("nan"), size_total, 0, [], [],
                     phases, {}, dict(sorted(error_dist.items())))
    fastest, slowest = float(lats[0]), float(lats[-1])
    codes, counts = np.unique(cols["status"][ok], return_counts=True)
    return Stats(
        total=total, count=count, rps=rps, fastest=fastest, slowest=slowest,
        average=float(lats.sum() / n_ok) if n_ok else float("nan"),
        size_total=size_total, size_per_request=size_total // n_ok,
        histogram=_histogram(lats, fastest, slowest),
        percentiles=_percentiles(lats),
        phases=phases,
        status_codes={int(c): int(k) for c, k in zip(codes, counts)},
        errors=dict(sorted(error_dist.items())),
    )


def _histogram(lats, fastest: float, slowest: float) -> list:
    # hey: 10 equal buckets from fastest, an 11th mark at slowest; a latency goes to the
    # first mark it does not exceed.
    bs = (slowest - fastest) / 10
    marks = np.array([fastest + bs * i for i in range(10)] + [slowest])
    idx = np.searchsorted(marks, lats, side="left")
    counts = np.bincount(idx, minlength=11)[:11]
    return [(float(m), int(c)) for m, c in zip(marks, counts)]


def _percentiles(lats) -> list:
    # hey walks the sorted latencies once: the first index i with i*100/len >= p, each
    # percentile taking a later index than the one before. Missing ones print as "0%".
    n = len(lats)
    out, prev = [], -1
    for p in PERCENTILES:
        i = max(-(-p * n // 100), prev + 1)
        if i < n:
            prev = i
            lat = float(lats[i])
            out.append((p, lat) if lat > 0 else (0, 0.0))
        else:
            prev = n
            out.append((0, 0.0))
    return out


def summary(stats: Stats) -> str:
    """hey's default output, byte for byte in layout."""
    s = stats
    out = ["\nSummary:\n",
           f"  Total:\t{fmt(s.total)} secs\n",
           f"  Slowest:\t{fmt(s.slowest)} secs\n",
           f"  Fastest:\t{fmt(s.fastest)} secs\n",
           f"  Average:\t{fmt(s.average)} secs\n",
           f"  Requests/sec:\t{fmt(s.rps)}\n  "]
    if s.size_total > 0:
        out.append(f"\n  Total data:\t{s.size_total} bytes\n"
                   f"  Size/request:\t{s.size_per_request} bytes")
    out.append("\n\nResponse time histogram:\n")
    peak = max((c for _, c in s.histogram), default=0)
    for mark, c in s.histogram:
        bar = _BAR * ((c * 40 + peak // 2) // peak) if peak else ""
        out.append(f"  {mark:4.3f} [{c}]\t|{bar}\n")
    out.append("\n\nLatency distribution:")
    for p, lat in s.percentiles:
        out.append(f"\n  {p}% in {fmt(lat)} secs")
    out.append("\n\nDetails (average, fastest, slowest):")
    for label, name in PHASES:
        avg, lo, hi = s.phases[name]
        out.append(f"\n  {label}:\t{fmt(avg)} secs, {fmt(lo)} secs, {fmt(hi)} secs")
    out.append("\n\nStatus code distribution:")
    for code, num in s.status_codes.items():
        out.append(f"\n  [{code}]\t{num} responses")
    out.append("\n\n")
    if s.errors:
        out.append("Error distribution:")
        for reason, num in s.errors.items():
            out.append(f"\n  [{num}]\t{reason}")
    out.append("\n\n")
    return "".join(out)


CSV_HEADER = ("response-time,DNS+dialup,DNS,Request-write,Response-delay,Response-read,"
              "status-code,offset")


def csv(cols: dict) -> str:
    """hey's `-o csv`: one row per response (errors have no row), in completion order."""
    import pandas as pd  # its C writer formats a million rows several times faster

    ok = cols["error"] < 0
    order = np.argsort((cols["start"] + cols["latency"])[ok], kind="stable")
    names = ("latency", "dns_dialup", "dns_lookup", "req_write", "resp_wait", "resp_read",
             "status", "start")
    table = pd.DataFrame({k: cols[k][ok][order] for k in names})
    # "%.4f" rounds as Go's "%4.4f" does; no value here is narrower than 4 characters
    body = table.to_csv(header=False, index=False, float_format="%.4f", lineterminator="\n")
    return CSV_HEADER + "\n" + body
