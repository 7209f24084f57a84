"""What every report shares: options resolved for the report kind, the value column, the
report total, filters and granularity applied, and the trimmed graph (pprof's
generateRawReport + report.New + newTrimmedGraph).
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import numpy as np

from ..options import apply_filters
from ..options import ReportOptions
from ..model.profile import Profile
from .. import units
from .graph import Graph, NodeTable, aggregate_lines, build_graph, build_nodes, sort_nodes

# Reports that force options, as go tool pprof's applyCommandOverrides does.
_ALL_ROWS = {"top", "text", "topproto"}


def command_options(kind: str, opts: ReportOptions) -> ReportOptions:
    opts = dataclasses.replace(opts)
    trim = opts.trim
    if kind in ("peek",):
        trim = False
    elif kind in ("list",):
        trim = False
        opts.granularity = "lines"
    elif kind == "weblist":
        trim = False
        opts.granularity = "addresses"
    elif kind in _ALL_ROWS:
        if opts.nodecount == -1:
            opts.nodecount = 0
    elif opts.nodecount == -1:
        opts.nodecount = 80
    if kind in ("raw", "proto"):
        trim = False
        opts.granularity = "addresses"
        opts.noinlines = False
    if not trim:
        opts.nodecount = 0
        opts.nodefraction = 0.0
        opts.edgefraction = 0.0
    return opts


def is_diff_base_sample(prof: Profile) -> np.ndarray:
    """Samples labelled pprof::base=true (the base of a -diff_base comparison)."""
    hit = prof.label_key == "pprof::base"
    if hit.any():
        hit[hit] = prof.label_str[hit] == "true"
    return np.bincount(prof.label_sample[hit], minlength=prof.n_samples) > 0


def compute_total(prof: Profile, index: int, mean: bool) -> int:
    """pprof's computeTotal: Σ|v| (over base samples only when there are any), / Σcount under -mean."""
    v = np.abs(prof.values[:, index]) if prof.n_samples else np.zeros(0, np.int64)
    d = prof.values[:, 0] if mean and prof.n_samples else np.zeros(len(v), np.int64)
    total, div = int(v.sum()), int(d.sum())
    base = is_diff_base_sample(prof) if len(prof.label_key) else np.zeros(len(v), bool)
    if base.any():
        diff_total = int(v[base].sum())
        if diff_total > 0:
            total, div = diff_total, int(d[base].sum())
    if div != 0:
        q = abs(total) // abs(div)
        return q if (total >= 0) == (div > 0) else -q
    return total


@dataclass
class Report:
    """A profile prepared for one report kind."""

    kind: str
    source: Profile  # as given (headers read it)
    prof: Profile  # filtered and aggregated
    opts: ReportOptions
    index: int
    sample_type: str
    sample_unit: str
    total: int
    unmatched_filters: list[str]
    ratio: float = 1.0
    output_unit: str = "minimum"

    @property
    def weights(self) -> np.ndarray:
        return self.prof.values[:, self.index]

    @property
    def divisors(self) -> np.ndarray | None:
        return self.prof.values[:, 0] if self.opts.mean else None

    def format_value(self, v: int | float) -> str:
        if self.ratio > 0 and self.ratio != 1:
            v = int(v * self.ratio)
        return units.scaled_label(v, self.sample_unit, self.output_unit)

    def select_output_unit(self, graph: Graph, nodes: np.ndarray) -> None:
        if self.opts.unit != "minimum":
            self.output_unit = self.opts.unit
            return
        if len(nodes) == 0:
            return
        flat = np.abs(graph.flat_value[nodes])
        cum = np.abs(graph.cum_value[nodes])
        node_min = np.where(flat == 0, cum, flat)
        positive = node_min[node_min > 0]
        min_value = int(positive.min()) if len(positive) else 0
        self.output_unit = units.select_output_unit(min_value, self.total, self.sample_unit, self.ratio)

    # ------------------------------------------------------------- the graph

    def node_table(self) -> NodeTable:
        if not hasattr(self, "_nodes"):
            obj_names = self.kind in ("raw", "list", "weblist")
            self._nodes = build_nodes(self.prof, self.opts.granularity, obj_names=obj_names)
        return self._nodes

    def graph(self, kept: np.ndarray | None = None, *, edges: bool = True) -> Graph:
        return build_graph(
            self.prof, self.node_table(), self.weights, self.divisors, kept,
            drop_negative=self.opts.drop_negative, edges=edges,
        )

    def cut_low_frequency_nodes(self, *, edges: bool = True) -> tuple[Graph, np.ndarray | None, int, int, int]:
        """The first step of pprof's newTrimmedGraph: the graph without nodes whose |cum| is
        below nodefraction of its total. Returns (graph, kept-node mask or None, number of
        dropped nodes, node cutoff, edge cutoff)."""
        g = self.graph(edges=edges)
        total_value = int(g.flat[g.selected].sum())
        node_cutoff = abs(int(total_value * self.opts.nodefraction))
        edge_cutoff = abs(int(total_value * self.opts.edgefraction))
        kept, dropped = None, 0
        if node_cutoff > 0:
            keep = np.abs(g.cum[g.selected]) >= node_cutoff
            if not keep.all():
                dropped = int((~keep).sum())
                kept = np.zeros(len(g.nodes), dtype=bool)
                kept[g.selected[keep]] = True
                if edges:
                    g = self.graph(kept, edges=edges)
                else:
                    # Without edges the graph of the kept nodes is this one restricted: a
                    # kept node's cum counts the same samples, and its flat the samples
                    # whose leaf it is (a dropped leaf gives flat to no one, as in pprof).
                    g = g.restricted(kept)
        return g, kept, dropped, node_cutoff, edge_cutoff

    def trimmed_graph(self) -> tuple[Graph, np.ndarray, int, int, int]:
        """pprof's newTrimmedGraph: (graph, shown node order, original count, dropped nodes,
        dropped edges). Edges below the edge cutoff are removed from the graph (and so from
        -top's inline marks, as in pprof)."""
        opts = self.opts
        cum_sort = opts.sort == "cum"
        # Weights first; edges only on the graph that is kept in the end.
        g, _, dropped_nodes, _, edge_cutoff = self.cut_low_frequency_nodes(edges=False)
        rebuilt = False
        orig_count = len(g.selected)
        order = sort_nodes(g, g.selected, cum_sort)
        if opts.nodecount > 0 and opts.nodecount < len(order):
            kept = np.zeros(len(g.nodes), dtype=bool)
            kept[order[: opts.nodecount]] = True
            g = self.graph(kept)
            rebuilt = True
            order = sort_nodes(g, g.selected, cum_sort)
        if not rebuilt:
            kept = None
            if dropped_nodes:
                kept = np.zeros(len(g.nodes), dtype=bool)
                kept[g.selected] = True
            g = self.graph(kept)
        dropped_edges = 0
        if len(g.edge_weight):
            low = np.abs(g.edge_weight) < edge_cutoff
            # Only edges into shown nodes are counted, as pprof walks n.In of its nodes.
            shown = np.zeros(len(g.nodes), dtype=bool)
            shown[order] = True
            low &= shown[g.edge_dst]
            dropped_edges = int(low.sum())
            if dropped_edges:
                keep_e = ~low
                for name in ("edge_src", "edge_dst", "edge_weight", "edge_div", "edge_inline", "edge_residual"):
                    setattr(g, name, getattr(g, name)[keep_e])
        return g, order, orig_count, dropped_nodes, dropped_edges

    # ------------------------------------------------------------- headers

    def profile_labels(self) -> list[str]:
        """File, Build ID, comments, Type, Time, Duration lines (pprof's ProfileLabels)."""
        prof = self.source
        out = []
        if prof.mappings:
            if prof.mappings[0].filename:
                out.append("File: " + prof.mappings[0].filename.rsplit("/", 1)[-1])
            if prof.mappings[0].build_id:
                out.append("Build ID: " + prof.mappings[0].build_id)
        out.extend(c for c in prof.comments if not c.startswith("#"))
        if self.sample_type:
            out.append("Type: " + self.sample_type)
        if prof.time_nanos:
            out.append("Time: " + format_time(prof.time_nanos))
        if prof.duration_nanos:
            duration = units.duration_label(prof.duration_nanos)
            total_ns, total_unit = units.scale(self.total, self.sample_unit, "nanoseconds")
            ratio = ""
            if total_unit == "ns" and total_ns != 0:
                ratio = "(" + units.percentage(int(total_ns), prof.duration_nanos) + ")"
            out.append(f"Duration: {duration}, Total samples = {self.format_value(self.total)} {ratio}")
        return out

    def report_labels(self, graph: Graph, order: np.ndarray, orig_count: int, dropped_nodes: int,
                      dropped_edges: int, full_headers: bool = False) -> list[str]:
        """The header lines down to (not including) the column header (pprof's reportLabels)."""
        out = self.profile_labels() if full_headers or not self.opts.compact_labels else []
        flat_sum = int(graph.flat_value[order].sum())
        filters = self.opts.active_filters()
        if filters:
            out.append("Active filters:")
            out.extend("   " + (f if len(f) <= 80 else f[:80] + "…") for f in filters)
        out.append(
            f"Showing nodes accounting for {self.format_value(flat_sum)}, "
            f"{units.percentage(flat_sum, self.total).strip()} of {self.format_value(self.total)} total"
        )
        if self.total != 0:
            if dropped_nodes > 0:
                out.append(_dropped(dropped_nodes, "node", "cum", self.format_value(abs(int(self.total * self.opts.nodefraction)))))
            if dropped_edges > 0:
                out.append(_dropped(dropped_edges, "edge", "freq", self.format_value(abs(int(self.total * self.opts.edgefraction)))))
            if 0 < len(order) < orig_count:
                out.append(f"Showing top {len(order)} nodes out of {orig_count}")
        if full_headers:
            out.append("\nSee https://git.io/JfYMW for how to read the graph")
        return out


def _dropped(count: int, what: str, measure: str, value: str) -> str:
    return f"Dropped {count} {what}{'s' if count > 1 else ''} ({measure} <= {value})"


def format_time(nanos: int) -> str:
    """go tool pprof's Time: line ("Jan 2, 2006 at 3:04pm (MST)", local time)."""
    t = time.localtime(nanos / 1e9)
    hour = t.tm_hour % 12 or 12
    ampm = "am" if t.tm_hour < 12 else "pm"
    return f"{time.strftime('%b', t)} {t.tm_mday}, {t.tm_year} at {hour}:{t.tm_min:02d}{ampm} ({time.strftime('%Z', t)})"


def prepare(prof: Profile, kind: str, opts: ReportOptions) -> Report:
    """Resolve options for ``kind``, compute the total, filter and aggregate."""
    opts = command_options(kind, opts)
    units.check_output_unit(opts.unit)
    index = prof.sample_type_index(opts.sample_index or None)
    vt = prof.sample_types[index]
    sample_type = ("mean_" if opts.mean else "") + vt.type
    source = prof
    if opts.relative_percentages:
        result = apply_filters(prof, opts)
        prof = result.profile
        total = compute_total(prof, index, opts.mean)
    else:
        total = compute_total(prof, index, opts.mean)
        result = apply_filters(prof, opts)
        prof = result.profile
    prof = aggregate_lines(prof, opts.noinlines)
    return Report(
        kind=kind, source=source, prof=prof, opts=opts, index=index, sample_type=sample_type,
        sample_unit=vt.unit.lower(), total=total, unmatched_filters=result.unmatched,
        ratio=1.0 / opts.divide_by, output_unit=opts.unit,
    )
