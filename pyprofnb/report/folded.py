"""Folded stacks (Brendan Gregg's format: ``root;caller;leaf value`` per line), the input of
flamegraph.pl, speedscope, inferno and most flame-graph tools. go tool pprof has no such
output; frames are named as the other reports name nodes (granularity applied), filters
apply, identical stacks are added up and all-zero ones left out.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .core import Report


def folded_frame(rpt: Report) -> pd.DataFrame:
    """One row per distinct stack: ``stack`` (root first, ``;``-joined) and ``value``."""
    nodes = rpt.node_table()
    names = nodes.printable[nodes.frame_node] if len(nodes.frame_node) else np.zeros(0, dtype=object)
    # ';' separates frames in this format, so it cannot appear inside a name.
    names = np.array([n.replace(";", ":") for n in names], dtype=object)
    bounds = np.searchsorted(nodes.frame_sample, np.arange(rpt.prof.n_samples + 1)).tolist()
    stacks = [";".join(names[bounds[s]:bounds[s + 1]][::-1]) for s in range(rpt.prof.n_samples)]
    frame = pd.DataFrame({"stack": stacks, "value": rpt.weights.astype(np.int64)})
    frame = frame[frame["stack"] != ""]
    frame = frame.groupby("stack", sort=True)["value"].sum().reset_index()
    frame = frame[frame["value"] != 0].reset_index(drop=True)
    frame.attrs.update(unit=rpt.sample_unit, sample_type=rpt.sample_type, total=rpt.total)
    return frame


def folded_text(rpt: Report) -> str:
    frame = folded_frame(rpt)
    return "".join(f"{stack} {value}\n" for stack, value in zip(frame["stack"], frame["value"].tolist()))


from . import register as _register  # noqa: E402  (the package imports this module lazily)

_register("folded", frame=folded_frame, text=folded_text)
