"""``-traces``: every sample with its labels and its stack, leaf first (pprof's printTraces)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..model.filters import label_units
from .. import units
from .core import Report, prepare

_SEPARATOR = "-----------+-------------------------------------------------------"


def go_loaded(rpt: Report) -> Report:
    """The report over the profile as go tool pprof holds it after loading: pprof merges
    even a single source, which drops all-zero samples and adds up identical ones (Go's heap
    profiles start with zero samples). Reports that print samples one by one need this."""
    compacted = rpt.source.compact()
    if compacted is rpt.source:
        return rpt
    again = prepare(compacted, rpt.kind, rpt.opts)
    again.argument = rpt.argument
    return again


def _sample_values(rpt: Report) -> np.ndarray:
    """The sample's value, divided by its count under -mean (Go's truncating division)."""
    v = rpt.weights.astype(np.int64)
    d = rpt.divisors
    if d is None:
        return v
    safe = np.where(d == 0, 1, d)
    q = np.abs(v) // np.abs(safe) * np.sign(v) * np.sign(safe)
    return np.where(d == 0, v, q)


def sample_labels(rpt: Report) -> list[list[str]]:
    """Per sample, its label lines as pprof prints them: string labels, then numeric ones,
    each group sorted, ``%10s:  v1 v2``."""
    prof = rpt.prof
    n = prof.n_samples
    strings: list[dict[str, list[str]]] = [dict() for _ in range(n)]
    numbers: list[dict[str, list[str]]] = [dict() for _ in range(n)]
    num_units = label_units(rpt.source)
    for s, key, text, num in zip(prof.label_sample.tolist(), prof.label_key, prof.label_str, prof.label_num.tolist()):
        if text is not None:
            strings[s].setdefault(key, []).append(text)
        else:
            numbers[s].setdefault(key, []).append(units.label(num, num_units.get(key, key)))
    out = []
    for i in range(n):
        lines = sorted(f"{k:>10}:  {' '.join(v)}" for k, v in strings[i].items())
        lines += sorted(f"{k:>10}:  {' '.join(v)}" for k, v in numbers[i].items())
        out.append(lines)
    return out


def traces_frame(rpt: Report) -> pd.DataFrame:
    """One row per frame of every sample that has a stack: sample, depth (0 is the leaf),
    node name, inlined, and the sample's value."""
    rpt = go_loaded(rpt)
    nodes = rpt.node_table()
    values = _sample_values(rpt)
    frame = pd.DataFrame({
        "sample": nodes.frame_sample,
        "depth": _depths(nodes.frame_sample),
        "name": nodes.printable[nodes.frame_node] if len(nodes.frame_node) else np.zeros(0, dtype=object),
        "inline": nodes.frame_inlined,
        "value": values[nodes.frame_sample] if len(nodes.frame_sample) else np.zeros(0, np.int64),
    })
    frame.attrs.update(unit=rpt.sample_unit, sample_type=rpt.sample_type, total=rpt.total)
    return frame


def _depths(sample: np.ndarray) -> np.ndarray:
    if len(sample) == 0:
        return np.zeros(0, np.int64)
    starts = np.flatnonzero(np.r_[True, sample[1:] != sample[:-1]])
    lengths = np.diff(np.r_[starts, len(sample)])
    return np.arange(len(sample)) - np.repeat(starts, lengths)


def traces_text(rpt: Report) -> str:
    rpt = go_loaded(rpt)
    out = ["\n".join(rpt.profile_labels())]
    nodes = rpt.node_table()
    values = _sample_values(rpt)
    labels = sample_labels(rpt)
    names = nodes.printable
    frame_node = nodes.frame_node.tolist()
    inlined = nodes.frame_inlined.tolist()
    bounds = np.searchsorted(nodes.frame_sample, np.arange(rpt.prof.n_samples + 1)).tolist()
    for s in range(rpt.prof.n_samples):
        lo, hi = bounds[s], bounds[s + 1]
        if lo == hi:
            continue
        out.append(_SEPARATOR)
        out.extend(labels[s])
        value = rpt.format_value(int(values[s]))
        for f in range(lo, hi):
            out.append(f"{value if f == lo else '':>10}   {names[frame_node[f]]}{' (inline)' if inlined[f] else ''}")
    out.append(_SEPARATOR)
    return "\n".join(out) + "\n"


from . import register as _register  # noqa: E402  (the package imports this module lazily)

_register("traces", frame=traces_frame, text=traces_text)
