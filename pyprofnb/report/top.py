"""``-top`` / ``-text``: one row per node with flat, flat%, sum%, cum, cum% (pprof's TextItems)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .. import units
from .core import Report


def inline_labels(graph, order: np.ndarray) -> list[str]:
    """"(inline)" when every incoming edge is inlined, "(partial-inline)" when some are."""
    n = len(graph.nodes)
    has_inline = np.zeros(n, dtype=bool)
    has_call = np.zeros(n, dtype=bool)
    has_inline[graph.edge_dst[graph.edge_inline]] = True
    has_call[graph.edge_dst[~graph.edge_inline]] = True
    out = []
    for i in order:
        if has_inline[i]:
            out.append("(partial-inline)" if has_call[i] else "(inline)")
        else:
            out.append("")
    return out


def top_frame(rpt: Report) -> tuple[pd.DataFrame, list[str]]:
    """The top rows as a DataFrame and the header lines."""
    graph, order, orig_count, dropped_nodes, _ = rpt.trimmed_graph()
    rpt.select_output_unit(graph, order)
    labels = rpt.report_labels(graph, order, orig_count, dropped_nodes, 0)
    flat = graph.flat_value[order]
    cum = graph.cum_value[order]
    total = rpt.total
    with np.errstate(divide="ignore", invalid="ignore"):
        pct = (lambda v: np.abs(v) / total * 100 if total else np.zeros(len(v)))
        frame = pd.DataFrame(
            {
                "flat": flat,
                "flat%": pct(flat),
                "sum%": pct(np.cumsum(flat)),
                "cum": cum,
                "cum%": pct(cum),
                "inline": inline_labels(graph, order),
                "function": graph.nodes.name[order],
                "file": graph.nodes.file[order],
                "line": graph.nodes.lineno[order],
            },
            index=pd.Index(graph.nodes.printable[order], name="name"),
        )
    frame.attrs.update(unit=rpt.sample_unit, sample_type=rpt.sample_type, total=total, header=labels,
                       output_unit=rpt.output_unit)
    return frame, labels


def top_text(rpt: Report) -> str:
    frame, labels = top_frame(rpt)
    total = rpt.total
    lines = list(labels)
    lines.append(f"{'flat':>10} {'flat':>5}% {'sum':>5}% {'cum':>10} {'cum':>5}%")
    flat_sum = 0
    for name, flat, cum, inl in zip(frame.index, frame["flat"], frame["cum"], frame["inline"]):
        flat_sum += int(flat)
        lines.append(
            f"{rpt.format_value(int(flat)):>10} {units.percentage(flat, total)} {units.percentage(flat_sum, total)} "
            f"{rpt.format_value(int(cum)):>10} {units.percentage(cum, total)}  {name}{' ' + inl if inl else ''}"
        )
    return "\n".join(lines) + "\n"
