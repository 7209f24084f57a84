"""``-tree`` and ``-peek=regexp``: each node with its callers above and its callees below
(pprof's printTree). ``peek`` never trims and prints only nodes whose name matches.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import OptionError
from ..options import compile_regex
from .. import units
from .core import Report
from .graph import Graph

_SEPARATOR = "----------------------------------------------------------+-------------"
_LEGEND = "      flat  flat%   sum%        cum   cum%   calls calls% + context \t \t "


def edge_order(graph: Graph, edges: np.ndarray) -> np.ndarray:
    """pprof's EdgeMap.Sort over edge indices: |weight| descending, then caller name, then
    callee name."""
    if len(edges) == 0:
        return edges
    names = graph.nodes.printable
    frame = pd.DataFrame({
        "w": -np.abs(graph.edge_weight[edges]),
        "src": names[graph.edge_src[edges]],
        "dst": names[graph.edge_dst[edges]],
    })
    return edges[frame.sort_values(["w", "src", "dst"], kind="stable").index.to_numpy()]


def _symbol(rpt: Report):
    if rpt.kind != "peek":
        return None
    if not rpt.argument:
        raise OptionError("peek needs a regexp argument: -peek=REGEXP")
    return compile_regex("peek", rpt.argument)


def tree_frame(rpt: Report) -> tuple[pd.DataFrame, list[str]]:
    """One row per shown node ("self") and per caller/callee edge of it, in printed order.

    Index: (node, relation, other) where relation is caller, self or callee.
    For edge rows ``calls`` is the edge weight and ``calls%`` its share of the node's cum.
    """
    graph, order, orig_count, dropped_nodes, _ = rpt.trimmed_graph()
    rpt.select_output_unit(graph, order)
    labels = rpt.report_labels(graph, order, orig_count, dropped_nodes, 0)
    rx = _symbol(rpt)
    names = graph.nodes.printable
    flat_v, cum_v = graph.flat_value, graph.cum_value
    by_dst: dict[int, list[int]] = {}
    by_src: dict[int, list[int]] = {}
    for e, (s, d) in enumerate(zip(graph.edge_src.tolist(), graph.edge_dst.tolist())):
        by_dst.setdefault(d, []).append(e)
        by_src.setdefault(s, []).append(e)
    rows = []
    total = rpt.total
    flat_sum = 0
    matched = 0
    for rank, n in enumerate(order.tolist()):
        name = names[n]
        if rx is not None and not rx.search(name):
            continue
        matched += 1
        cum = int(cum_v[n])
        for e in edge_order(graph, np.array(by_dst.get(n, []), dtype=np.int64)).tolist():
            w = int(graph.edge_weight[e])
            rows.append((name, "caller", names[graph.edge_src[e]], np.nan, np.nan, np.nan, np.nan, np.nan,
                         w, _pct(w, cum), bool(graph.edge_inline[e]), rank, cum))
        flat = int(flat_v[n])
        flat_sum += flat
        rows.append((name, "self", name, flat, _pct(flat, total), _pct(flat_sum, total), cum, _pct(cum, total),
                     np.nan, np.nan, False, rank, cum))
        for e in edge_order(graph, np.array(by_src.get(n, []), dtype=np.int64)).tolist():
            w = int(graph.edge_weight[e])
            rows.append((name, "callee", names[graph.edge_dst[e]], np.nan, np.nan, np.nan, np.nan, np.nan,
                         w, _pct(w, cum), bool(graph.edge_inline[e]), rank, cum))
    if rx is not None and matched == 0:
        raise OptionError(f"no matches found for regexp: {rpt.argument}")
    columns = ["node", "relation", "other", "flat", "flat%", "sum%", "cum", "cum%", "calls", "calls%", "inline", "rank",
               "node_cum"]
    frame = pd.DataFrame(rows, columns=columns).set_index(["node", "relation", "other"])
    frame.attrs.update(unit=rpt.sample_unit, sample_type=rpt.sample_type, total=total, header=labels,
                       output_unit=rpt.output_unit, shown_nodes=len(order))
    return frame, labels


def _pct(value: int, total: int) -> float:
    return abs(value) / total * 100 if total else 0.0


def tree_text(rpt: Report) -> str:
    frame, labels = tree_frame(rpt)
    fmt = rpt.format_value
    total = rpt.total
    out = list(labels)
    out.append(_SEPARATOR)
    out.append(_LEGEND)
    previous = -1
    flat_sum = 0
    for (node, relation, other), row in zip(frame.index, frame.itertuples(index=False)):
        if row.rank != previous:
            out.append(_SEPARATOR)
            previous = row.rank
        if relation == "self":
            flat, cum = int(row.flat), int(row.cum)
            flat_sum += flat
            out.append(
                f"{fmt(flat):>10} {units.percentage(flat, total)} {units.percentage(flat_sum, total)} "
                f"{fmt(cum):>10} {units.percentage(cum, total)}                | {node}"
            )
        else:
            w = int(row.calls)
            inline = " (inline)" if row.inline else ""
            out.append(f"{fmt(w):>50} {units.percentage(w, row.node_cum)} |   {other}{inline}")
    if frame.attrs["shown_nodes"]:
        out.append(_SEPARATOR)
    return "\n".join(out) + "\n"


from . import register as _register  # noqa: E402  (the package imports this module lazily)

_register("tree", frame=tree_frame, text=tree_text)
_register("peek", frame=tree_frame, text=tree_text)
