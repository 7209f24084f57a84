"""``-dot``: the call graph in Graphviz DOT, as go tool pprof writes it (report.GetDOT and
graph/dotgraph.go), and ``-svg`` through Graphviz's ``dot -Tsvg``.

What pprof does and this follows:
- trimming for a visual graph: nodes below nodefraction dropped, then nodes ordered by an
  entropy score (entry/leaf nodes and nodes whose edges split the weight rank first), the
  first ``nodecount`` (default 80) kept counting label nodelets as nodes, edges below
  edgefraction dropped, and residual (dotted) edges removed when another path connects
  their ends;
- node font size from 8 to 24 by sqrt(flat/max flat), colours from cum/total (red for
  growth, green for shrink in diffs), edge weight, width and colour from weight/total;
- label nodelets: string labels of a sample (joined) and its numeric ``bytes`` label,
  the top four per node, numeric ones collapsed into ranges;
- the legend box with the report's header lines.
"""
from __future__ import annotations

import math
import os
import shutil
import subprocess

import numpy as np
import pandas as pd

from ..errors import OptionError, PprofError
from ..model.filters import label_units
from .. import units
from .core import Report
from .graph import Graph
from .tree import edge_order

_MAX_NODELETS = 4


# ------------------------------------------------------------------ tags


class _Tag:
    __slots__ = ("name", "unit", "value", "flat", "flat_div", "cum", "cum_div")

    def __init__(self, name: str, unit: str = "", value: int = 0):
        self.name, self.unit, self.value = name, unit, value
        self.flat = self.flat_div = self.cum = self.cum_div = 0

    def flat_value(self) -> int:
        return self.flat if self.flat_div == 0 else _div(self.flat, self.flat_div)

    def cum_value(self) -> int:
        return self.cum if self.cum_div == 0 else _div(self.cum, self.cum_div)


def _div(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def _sort_tags(tags: list[_Tag], flat: bool) -> list[_Tag]:
    """pprof's SortTags."""
    if flat:
        return sorted(tags, key=lambda t: (-abs(t.flat), t.name))
    return sorted(tags, key=lambda t: (-abs(t.cum), -abs(t.flat), t.name))


class _NodeTags:
    """Per node: label tags (joined string labels) and numeric tags grouped by label string."""

    def __init__(self):
        self.labels: dict[str, _Tag] = {}
        self.numeric: dict[str, dict[str, _Tag]] = {}


def _sample_tag_inputs(rpt: Report) -> tuple[list[str], list[list[tuple[str, str, int]]]]:
    """Per sample: its joined string labels (pprof's joinLabels, without pprof::base) and its
    numeric ``bytes`` labels as (formatted name, unit, value)."""
    prof = rpt.prof
    n = prof.n_samples
    strings: list[list[str]] = [[] for _ in range(n)]
    numeric: list[list[tuple[str, str, int]]] = [[] for _ in range(n)]
    unit = label_units(rpt.source).get("bytes", "bytes")
    for s, key, text, num in zip(prof.label_sample.tolist(), prof.label_key, prof.label_str, prof.label_num.tolist()):
        if text is not None:
            if key != "pprof::base":
                strings[s].append(f"{key}:{text}")
        elif key == "bytes":
            numeric[s].append((units.scaled_label(num, unit, rpt.opts.unit), unit, num))
    # Each label is escaped for DOT (values come from the profiled program) and then joined
    # with DOT's own line break, as pprof's joinLabels output reads in its graph.
    return ["\\n".join(escape(t) for t in sorted(x)) for x in strings], numeric


def _node_tags(rpt: Report, kept: np.ndarray | None) -> dict[int, _NodeTags]:
    prof = rpt.prof
    if len(prof.label_sample) == 0:
        return {}
    labels, numeric = _sample_tag_inputs(rpt)
    nodes = rpt.node_table()
    w = rpt.weights.astype(np.int64)
    d = rpt.divisors
    dw = np.zeros_like(w) if d is None else d.astype(np.int64)
    active = (w != 0) | (dw != 0)
    fsample, fnode = nodes.frame_sample, nodes.frame_node
    fkeep = active[fsample]
    if kept is not None:
        fkeep &= kept[fnode]
    idx = np.flatnonzero(fkeep)
    pairs = pd.DataFrame({"s": fsample[idx], "n": fnode[idx]}).drop_duplicates()
    depth0 = np.zeros(len(fsample), dtype=bool)
    if len(fsample):
        depth0[0] = True
        depth0[1:] = fsample[1:] != fsample[:-1]
    leaf = np.flatnonzero(depth0 & fkeep)
    out: dict[int, _NodeTags] = {}
    w_l, dw_l = w.tolist(), dw.tolist()

    def add(s: int, n: int, flat: bool) -> None:
        tags = out.get(n)
        if tags is None:
            tags = out[n] = _NodeTags()
        lab = labels[s]
        if lab:
            t = tags.labels.get(lab)
            if t is None:
                t = tags.labels[lab] = _Tag(lab)
            _bump(t, w_l[s], dw_l[s], flat)
        group = tags.numeric.setdefault(lab, {})
        for name, unit, value in numeric[s]:
            t = group.get(name)
            if t is None:
                t = group[name] = _Tag(name, unit, value)
            _bump(t, w_l[s], dw_l[s], flat)

    for s, n in zip(pairs["s"].tolist(), pairs["n"].tolist()):
        add(s, n, False)
    for s, n in zip(fsample[leaf].tolist(), fnode[leaf].tolist()):
        add(s, n, True)
    return out


def _bump(t: _Tag, w: int, dw: int, flat: bool) -> None:
    if flat:
        t.flat += w
        t.flat_div += dw
    else:
        t.cum += w
        t.cum_div += dw


def _trim_tags(tags: dict[int, _NodeTags], cutoff: int) -> None:
    for nt in tags.values():
        nt.labels = {k: t for k, t in nt.labels.items() if abs(t.flat) >= cutoff or abs(t.cum) >= cutoff}
        for lab, group in nt.numeric.items():
            nt.numeric[lab] = {k: t for k, t in group.items() if abs(t.flat) >= cutoff or abs(t.cum) >= cutoff}


def _count_tags(nt: _NodeTags | None) -> int:
    if nt is None:
        return 0
    count = sum(1 for t in nt.labels.values() if t.flat != 0)
    count += sum(1 for group in nt.numeric.values() for t in group.values() if t.flat != 0)
    return count


# ------------------------------------------------------------------ trimming


def _entropy_order(graph: Graph, nodes: np.ndarray) -> np.ndarray:
    """pprof's EntropyOrder over the node indices ``nodes``."""
    n_nodes = len(graph.nodes)
    ins: list[list[int]] = [[] for _ in range(n_nodes)]
    outs: list[list[int]] = [[] for _ in range(n_nodes)]
    for w, s, d in zip(graph.edge_weight.tolist(), graph.edge_src.tolist(), graph.edge_dst.tolist()):
        outs[s].append(w)
        ins[d].append(w)
    flat, cum = graph.flat.tolist(), graph.cum.tolist()

    def edge_entropy(weights: list[int], self_w: int) -> float:
        score = 0.0
        total = self_w + sum(abs(x) for x in weights if x > 0)
        if total != 0:
            for x in weights:
                frac = abs(x) / total
                score += -frac * math.log2(frac) if frac > 0 else math.nan
            if self_w > 0:
                frac = abs(self_w) / total
                score += -frac * math.log2(frac)
        return score

    printable, keys = graph.nodes.printable, graph.nodes.sort_key
    ranked = []
    for n in nodes.tolist():
        score = 1.0 if not ins[n] else edge_entropy(ins[n], 0)
        score += 1.0 if not outs[n] else edge_entropy(outs[n], flat[n])
        # Go: int64(score*cum) + flat in int64 arithmetic (NaN converts to the minimum int64),
        # then abs64, which leaves the minimum negative.
        value = _go_int64(score * cum[n]) + flat[n]
        value = (value + (1 << 63)) % (1 << 64) - (1 << 63)
        magnitude = -value if value < 0 and value != -(1 << 63) else value
        ranked.append((-magnitude, printable[n], -abs(flat[n]), keys[n], n))
    ranked.sort()
    return np.array([r[-1] for r in ranked], dtype=np.int64)


def _go_int64(x: float) -> int:
    """Go's float64 -> int64 conversion on amd64 (NaN and overflow give the minimum)."""
    if not math.isfinite(x) or x >= 2.0**63 or x < -(2.0**63):
        return -(1 << 63)
    return int(x)


def _drop_edges(graph: Graph, keep: np.ndarray) -> None:
    for name in ("edge_src", "edge_dst", "edge_weight", "edge_div", "edge_inline", "edge_residual"):
        setattr(graph, name, getattr(graph, name)[keep])


def _trim_low_edges(graph: Graph, order: np.ndarray, cutoff: int) -> int:
    shown = np.zeros(len(graph.nodes), dtype=bool)
    shown[order] = True
    low = (np.abs(graph.edge_weight) < cutoff) & shown[graph.edge_dst]
    if low.any():
        _drop_edges(graph, ~low)
    return int(low.sum())


def _remove_redundant_edges(graph: Graph, order: np.ndarray) -> None:
    """pprof's RemoveRedundantEdges: drop a residual edge when its callee is still reachable
    from its caller through other edges (lightest edges first, nodes in reverse order)."""
    alive = np.ones(len(graph.edge_src), dtype=bool)
    in_edges: dict[int, list[int]] = {}
    for e, d in enumerate(graph.edge_dst.tolist()):
        in_edges.setdefault(d, []).append(e)
    src, residual = graph.edge_src.tolist(), graph.edge_residual.tolist()

    def redundant(e: int) -> bool:
        source, start = src[e], int(graph.edge_dst[e])
        seen = {start}
        queue = [start]
        while queue:
            n = queue.pop(0)
            for ie in in_edges.get(n, []):
                if not alive[ie] or ie == e or src[ie] in seen:
                    continue
                if src[ie] == source:
                    return True
                seen.add(src[ie])
                queue.append(src[ie])
        return False

    for n in order.tolist()[::-1]:
        edges = [e for e in in_edges.get(n, []) if alive[e]]
        for e in edge_order(graph, np.array(edges, dtype=np.int64)).tolist()[::-1]:
            if not residual[e]:
                break
            if redundant(e):
                alive[e] = False
    if not alive.all():
        _drop_edges(graph, alive)


def visual_graph(rpt: Report):
    """pprof's newTrimmedGraph in visual mode: (graph, node order, tags per node, original
    node count, dropped nodes, dropped edges)."""
    opts = rpt.opts
    if opts.call_tree:
        raise OptionError("call_tree (a context-sensitive tree graph) is not supported by pyprofnb's dot report yet")
    g, kept, dropped_nodes, node_cutoff, edge_cutoff = rpt.cut_low_frequency_nodes()
    orig_count = len(g.selected)
    tags = _node_tags(rpt, kept)
    order = _entropy_order(g, g.selected)
    if opts.nodecount > 0:
        _trim_tags(tags, node_cutoff)
        _trim_low_edges(g, order, edge_cutoff)
        max_nodes = opts.nodecount
        count = 0
        for i, n in enumerate(order.tolist()):
            count += min(_count_tags(tags.get(n)), _MAX_NODELETS) + 1
            if count >= max_nodes:
                max_nodes = i + 1
                break
        if max_nodes < len(order):
            kept = np.zeros(len(g.nodes), dtype=bool)
            kept[order[:max_nodes]] = True
            g = rpt.graph(kept)
            tags = _node_tags(rpt, kept)
            order = _entropy_order(g, g.selected)
    _trim_tags(tags, node_cutoff)
    dropped_edges = _trim_low_edges(g, order, edge_cutoff)
    _remove_redundant_edges(g, order)
    return g, order, tags, orig_count, dropped_nodes, dropped_edges


# ------------------------------------------------------------------ DOT text


def escape(text: str) -> str:
    """pprof's escapeForDot."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\l")


def dot_color(score: float, background: bool) -> str:
    """pprof's dotColor: grey near 0, red toward +1, green toward -1."""
    shift = 0.7
    saturation, value = (0.1, 0.93) if background else (1.0, 0.7)
    score = max(-1.0, min(1.0, score))
    if abs(score) < 0.2:
        saturation *= abs(score) / 0.2
    if score > 0.0:
        score = score ** (1.0 - shift)
    if score < 0.0:
        score = -((-score) ** (1.0 - shift))
    if score < 0.0:
        g = value
        r = value * (1 + saturation * score)
    else:
        r = value
        g = value * (1 - saturation * score)
    b = value * (1 - saturation)
    return "#%02x%02x%02x" % tuple(int(c * 255.0) & 0xFF for c in (r, g, b))


_GO_VERSION = __import__("re").compile(r"^(.*?)/v(?:[2-9]|[1-9][0-9]+)([./].*)$")
_GO_NAME = __import__("re").compile(r"^(?:[\w\-\.]+\/)+(.+)")
_JAVA_NAME = __import__("re").compile(r"^(?:[a-z]\w*\.)*([A-Z][\w\$]*\.(?:<init>|[a-z][\w\$]*(?:\$\d+)?))(?:(?:\()|$)")
_CPP_NAME = __import__("re").compile(r"^(?:[_a-zA-Z]\w*::)+(_*[A-Z]\w*::~?[_a-zA-Z]\w*(?:<.*>)?)")
_CPP_ANON = __import__("re").compile(r"^\(anonymous namespace\)::")


def shorten_function_name(name: str) -> str:
    """pprof's ShortenFunctionName (package paths dropped)."""
    name = _CPP_ANON.sub("", name)
    name = _GO_VERSION.sub(r"\1\2", name)
    for rx in (_GO_NAME, _JAVA_NAME, _CPP_NAME):
        m = rx.search(name)
        if m and len(m.groups()) >= 1:
            return "".join(g or "" for g in m.groups())
    return name


def _multiline_name(nodes, n: int) -> str:
    name = escape(shorten_function_name(nodes.name[n]))
    name = name.replace("::", "\\n").replace("[...]", "[…]").replace(".", "\\n")
    file = escape(os.path.basename(nodes.file[n])) if nodes.file[n] else ""
    parts = []
    if nodes.address[n]:
        parts.append(f"{int(nodes.address[n]):016x}")
    if name:
        parts.append(name)
    if nodes.lineno[n]:
        parts.append(f"{file}:{int(nodes.lineno[n])}")
    elif file:
        parts.append(file)
    elif name:
        pass
    elif nodes.objfile[n]:
        parts.append("[" + os.path.basename(nodes.objfile[n]) + "]")
    else:
        parts.append("<unknown>")
    return "\\n".join(parts) + "\\n"


def _collapsed_tags(tags: list[_Tag], count: int, flat: bool) -> list[_Tag]:
    tags = _sort_tags(tags, flat)
    if len(tags) <= count:
        return tags
    groups = [[t] for t in tags[:count]]
    for t in tags[count:]:
        best, distance = 0, _tag_distance(t, groups[0][0])
        for i in range(1, count):
            d = _tag_distance(t, groups[i][0])
            if d < distance:
                best, distance = i, d
        groups[best].append(t)
    out = []
    for group in groups:
        label, f, c = _group_label(group)
        t = _Tag(label)
        t.flat, t.cum = f, c
        out.append(t)
    return _sort_tags(out, flat)


def _tag_distance(t: _Tag, u: _Tag) -> float:
    v, _ = units.scale(u.value, u.unit, t.unit)
    return float(t.value) - v if v < t.value else v - float(t.value)


def _group_label(group: list[_Tag]) -> tuple[str, int, int]:
    if len(group) == 1:
        t = group[0]
        return units.label(t.value, t.unit), t.flat_value(), t.cum_value()
    lo = hi = group[0]
    df, f = lo.flat_div, lo.flat
    dc, c = lo.cum_div, lo.cum
    for t in group[1:]:
        if int(units.scale(t.value, t.unit, lo.unit)[0]) < lo.value:
            lo = t
        if int(units.scale(t.value, t.unit, hi.unit)[0]) > hi.value:
            hi = t
        f += t.flat
        df += t.flat_div
        c += t.cum
        dc += t.cum_div
    if df != 0:
        f = _div(f, df)
    if dc != 0:
        c = _div(c, dc)
    return units.label(lo.value, lo.unit) + ".." + units.label(hi.value, hi.unit), f, c


def _nodelets(rpt: Report, nt: _NodeTags | None, node_id: int, has_out: bool) -> str:
    if nt is None:
        return ""
    fmt = rpt.format_value
    flat_tags = has_out
    out = []
    tags = _sort_tags(list(nt.labels.values()), flat_tags)[:_MAX_NODELETS]
    for i, t in enumerate(tags):
        w = t.flat_value() if flat_tags else t.cum_value()
        if w == 0:
            continue
        weight = fmt(w)
        # t.name is made of labels escaped by _sample_tag_inputs: a thread name's quote
        # cannot end the string and add attributes such as URL="javascript:...".
        out.append(f'N{node_id}_{i} [label = "{t.name}" id="N{node_id}_{i}" fontsize=8 shape=box3d tooltip="{weight}"]\n')
        out.append(f'N{node_id} -> N{node_id}_{i} [label=" {weight}" weight=100 tooltip="{weight}" labeltooltip="{weight}"]\n')
        group = nt.numeric.get(t.name)
        if group:
            out.append(_numeric_nodelets(rpt, list(group.values()), flat_tags, f"N{node_id}_{i}"))
    group = nt.numeric.get("")
    if group:
        out.append(_numeric_nodelets(rpt, list(group.values()), flat_tags, f"N{node_id}"))
    return "".join(out)


def _numeric_nodelets(rpt: Report, tags: list[_Tag], flat_tags: bool, source: str) -> str:
    out = []
    for j, t in enumerate(_collapsed_tags(tags, _MAX_NODELETS, flat_tags)):
        w, attr = t.cum_value(), ' style="dotted"'
        if flat_tags or t.flat_value() == t.cum_value():
            w, attr = t.flat_value(), ""
        if w != 0:
            weight = rpt.format_value(w)
            out.append(f'N{source}_{j} [label = "{escape(t.name)}" id="N{source}_{j}" fontsize=8 shape=box3d tooltip="{weight}"]\n')
            out.append(f'{source} -> N{source}_{j} [label=" {weight}" weight=100 tooltip="{weight}" '
                       f'labeltooltip="{weight}"{attr}]\n')
    return "".join(out)


def dot_frame(rpt: Report) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The graph as drawn: nodes (in DOT id order) and edges."""
    g, order, _, _, _, _ = visual_graph(rpt)
    rpt.select_output_unit(g, order)
    names = g.nodes.printable
    nodes = pd.DataFrame({
        "id": np.arange(1, len(order) + 1),
        "flat": g.flat_value[order],
        "cum": g.cum_value[order],
    }, index=pd.Index(names[order], name="name"))
    shown = np.zeros(len(g.nodes), dtype=bool)
    shown[order] = True
    edges_idx = edge_order(g, np.flatnonzero(shown[g.edge_src] & shown[g.edge_dst]))
    edges = pd.DataFrame({
        "caller": names[g.edge_src[edges_idx]],
        "callee": names[g.edge_dst[edges_idx]],
        "weight": g.edge_value[edges_idx],
        "inline": g.edge_inline[edges_idx],
        "residual": g.edge_residual[edges_idx],
    })
    return nodes, edges


def dot_text(rpt: Report) -> str:
    g, order, tags, orig_count, dropped_nodes, dropped_edges = visual_graph(rpt)
    rpt.select_output_unit(g, order)
    labels = rpt.report_labels(g, order, orig_count, dropped_nodes, dropped_edges, full_headers=True)
    fmt = rpt.format_value
    total = rpt.total
    nodes = g.nodes
    prof = rpt.source
    title = os.path.basename(prof.mappings[0].filename) if prof.mappings and prof.mappings[0].filename else ""
    title = escape(title)
    out = [f'digraph "{title or "unnamed"}" {{\n', 'node [style=filled fillcolor="#f8f8f8"]\n']
    if labels:
        legend = f'subgraph cluster_L {{ "{escape(labels[0])}" [shape=box fontsize=16'
        legend += ' label="' + "\\l".join(escape(x) for x in labels) + '\\l"'
        if title:
            legend += f' tooltip="{title}"'
        out.append(legend + "] }\n")
    if len(order) == 0:
        out.append("}\n")
        return "".join(out)
    node_id = {n: i + 1 for i, n in enumerate(order.tolist())}
    flat_v, cum_v = g.flat_value, g.cum_value
    max_flat = float(max(abs(int(flat_v[n])) for n in order.tolist()))
    has_out = np.zeros(len(nodes), dtype=bool)
    has_out[g.edge_src] = True
    has_nodelets = {}
    for n in order.tolist():
        flat, cum = int(flat_v[n]), int(cum_v[n])
        label = _multiline_name(nodes, n)
        flat_value = fmt(flat)
        if flat != 0:
            label += f"{flat_value} ({units.percentage(flat, total).strip()})"
        else:
            label += "0"
        cum_value = flat_value
        if cum != flat:
            label += "\\n" if flat != 0 else " "
            cum_value = fmt(cum)
            label += f"of {cum_value} ({units.percentage(cum, total).strip()})"
        font = 8
        if max_flat != 0 and flat != 0 and abs(flat) <= max_flat:
            font += int(math.ceil(16.0 * math.sqrt(abs(flat) / max_flat)))
        score = cum / abs(total) if total else (math.copysign(math.inf, cum) if cum else math.nan)
        out.append(
            f'N{node_id[n]} [label="{label}" id="node{node_id[n]}" fontsize={font} shape=box '
            f'tooltip="{escape(nodes.printable[n])} ({cum_value})" color="{dot_color(score, False)}" '
            f'fillcolor="{dot_color(score, True)}"]\n'
        )
        nodelets = _nodelets(rpt, tags.get(n), node_id[n], bool(has_out[n]))
        out.append(nodelets)
        has_nodelets[n] = nodelets != ""
    shown = np.zeros(len(nodes), dtype=bool)
    shown[order] = True
    edges = edge_order(g, np.flatnonzero(shown[g.edge_src]))
    edge_values = g.edge_value
    for e in edges.tolist():
        src, dst = int(g.edge_src[e]), int(g.edge_dst[e])
        value = int(edge_values[e])
        w = fmt(value)
        attr = f'label=" {w}{chr(92) + "n (inline)" if g.edge_inline[e] else ""}"'
        if total != 0:
            weight = 1 + min(abs(_go_div(value * 100, total)), 100)
            if weight > 1:
                attr += f" weight={weight}"
            width = 1 + min(abs(_go_div(value * 5, total)), 5)
            if width > 1:
                attr += f" penwidth={width}"
            attr += f' color="{dot_color(value / abs(total), False)}"'
        arrow = "..." if g.edge_residual[e] else "->"
        tooltip = f'"{escape(nodes.printable[src])} {arrow} {escape(nodes.printable[dst])} ({w})"'
        attr += f" tooltip={tooltip} labeltooltip={tooltip}"
        if g.edge_residual[e]:
            attr += ' style="dotted"'
        if has_nodelets.get(src):
            attr += " minlen=2"
        out.append(f"N{node_id.get(src, 0)} -> N{node_id.get(dst, 0)} [{attr}]\n")
    out.append("}\n")
    return "".join(out)


def _go_div(a: int, b: int) -> int:
    """Go's integer division (truncates toward zero)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def dot_path() -> str | None:
    return shutil.which("dot")


def svg_text(rpt: Report) -> str:
    """The call graph as SVG, drawn by Graphviz ``dot -Tsvg``."""
    source = dot_text(rpt)
    dot = dot_path()
    if dot is None:
        raise PprofError("svg output needs Graphviz: the 'dot' program was not found on PATH "
                         "(install the graphviz package, or use the dot report for the DOT text)")
    result = subprocess.run([dot, "-Tsvg"], input=source.encode(), capture_output=True, timeout=120)
    if result.returncode != 0:
        raise PprofError(f"dot -Tsvg failed (exit {result.returncode}): {result.stderr.decode(errors='replace').strip()}")
    return result.stdout.decode("utf-8", errors="replace")


from . import register as _register  # noqa: E402  (the package imports this module lazily)

_register("dot", frame=dot_frame, text=dot_text)
_register("svg", text=svg_text)
