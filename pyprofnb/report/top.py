"""``-top`` / ``-text``: one row per node with flat, flat%, sum%, cum, cum% (pprof's TextItems)."""
from __future__ import annotations

import numpy as np

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


def _top_rows(rpt: Report):
    """The shown nodes in order: (header lines, graph, order, flat, cum, inline labels)."""
    graph, order, orig_count, dropped_nodes, _ = rpt.trimmed_graph()
    rpt.select_output_unit(graph, order)
    labels = rpt.report_labels(graph, order, orig_count, dropped_nodes, 0)
    return labels, graph, order, graph.flat_value[order], graph.cum_value[order], inline_labels(graph, order)


def top_frame(rpt: Report):
    """The top rows as a DataFrame and the header lines."""
    import pandas as pd

    labels, graph, order, flat, cum, inline = _top_rows(rpt)
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
                "inline": inline,
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
    """The text of -top, made from the same rows as `top_frame` (without building a DataFrame,
    so the command does not need pandas for it)."""
    labels, graph, order, flat_values, cum_values, inline = _top_rows(rpt)
    total = rpt.total
    lines = list(labels)
    lines.append(f"{'flat':>10} {'flat':>5}% {'sum':>5}% {'cum':>10} {'cum':>5}%")
    flat_sum = 0
    names = graph.nodes.printable[order]
    for name, flat, cum, inl in zip(names, flat_values.tolist(), cum_values.tolist(), inline):
        flat_sum += flat
        lines.append(
            f"{rpt.format_value(flat):>10} {units.percentage(flat, total)} {units.percentage(flat_sum, total)} "
            f"{rpt.format_value(cum):>10} {units.percentage(cum, total)}  {name}{' ' + inl if inl else ''}"
        )
    return "\n".join(lines) + "\n"


from . import register as _register  # noqa: E402  (the package imports this module lazily)

_register("top", frame=top_frame, text=top_text)
