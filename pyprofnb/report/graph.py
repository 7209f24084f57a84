"""The call graph every report is built from, computed the way go tool pprof does it
(internal/graph), on whole columns.

A node is what the granularity makes of a frame (a function; function+file; a file; a
function+file+line; an address). For each sample with weight w:
- flat: w goes to the node of its innermost frame (if that node is kept);
- cum: w goes once to every node on its stack (recursion counts once);
- edges: caller -> callee between consecutive kept frames, once per sample, skipping
  self-edges; an edge is *inline* when every contribution's callee frame was inlined, and
  *residual* when frames were dropped between its ends.
"""
from __future__ import annotations

import functools
import posixpath
from dataclasses import dataclass, field

import numpy as np

from ..options import GRANULARITIES
from ..model.profile import Frames, Profile
from ..errors import OptionError


@dataclass
class NodeTable:
    """Node identities at a granularity, and the node of every frame.

    Per-frame arrays (``frame_node``, ``frame_sample``, ...; leaf first, as
    ``Profile.frames()``) are computed when first used; `frames(first, stop)` gives them for
    a range of samples, which is how the graph walks large profiles in bounded memory.
    """

    # Per node: the fields of pprof's NodeInfo.
    address: np.ndarray
    name: np.ndarray
    file: np.ndarray
    lineno: np.ndarray
    start_line: np.ndarray
    objfile: np.ndarray
    printable: np.ndarray  # PrintableName()
    sort_key: np.ndarray  # fmt.Sprint(NodeInfo), the last tie-breaker of pprof's sorts
    prof: Profile
    line_node: np.ndarray  # node of each line entry
    loc_node: np.ndarray  # node of each line-less location (-1 for others)

    def __len__(self) -> int:
        return len(self.name)

    def frames(self, first: int = 0, stop: int | None = None) -> tuple[Frames, np.ndarray]:
        """The frames of samples [first, stop) and the node of each."""
        fr = Frames(self.prof, first, stop)
        if len(self.line_node):
            node = np.where(fr.line >= 0, self.line_node[np.maximum(fr.line, 0)], self.loc_node[fr.loc])
        else:
            node = self.loc_node[fr.loc]
        return fr, node

    @functools.cached_property
    def _all(self) -> tuple[Frames, np.ndarray]:
        return self.frames()

    @property
    def frame_node(self) -> np.ndarray:
        return self._all[1]

    @property
    def frame_sample(self) -> np.ndarray:
        return self._all[0].sample

    @property
    def frame_inlined(self) -> np.ndarray:
        return self._all[0].inlined

    @property
    def frame_loc(self) -> np.ndarray:
        return self._all[0].loc

    @property
    def frame_lineno(self) -> np.ndarray:
        return self._all[0].lineno

    @property
    def frame_func(self) -> np.ndarray:
        return self._all[0].func


def aggregate_lines(prof: Profile, noinlines: bool) -> Profile:
    """Drop inlined lines (keep each location's out-of-line caller) under -noinlines."""
    if not noinlines:
        return prof
    from ..model.filters import with_lines

    counts = np.diff(prof.line_offsets)
    keep = np.zeros(len(prof.line_func), dtype=bool)
    has = counts > 0
    keep[(prof.line_offsets[1:] - 1)[has]] = True
    return with_lines(prof, keep)


def _clean(path: str) -> str:
    if not path:
        return ""
    cleaned = posixpath.normpath(path)
    if cleaned.startswith("//"):
        cleaned = "/" + cleaned.lstrip("/")
    return cleaned


def _printable(address: int, name: str, file: str, lineno: int, objfile: str) -> str:
    parts = []
    if address:
        parts.append(f"{address:016x}")
    if name:
        parts.append(name)
    if lineno:
        parts.append(f"{file}:{lineno}")
    elif file:
        parts.append(file)
    elif name:
        pass
    elif objfile:
        parts.append("[" + posixpath.basename(objfile) + "]")
    else:
        parts.append("<unknown>")
    return " ".join(parts)


def _ranks(column: np.ndarray) -> np.ndarray:
    """Integer codes that order like the column's values (strings by code point, as Go
    orders UTF-8 bytes)."""
    if len(column) == 0:
        return np.zeros(0, dtype=np.int64)
    return np.unique(column, return_inverse=True)[1].reshape(-1).astype(np.int64)


def _row_codes(columns: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Codes of equal rows numbered in order of first appearance, and each code's first row
    (a groupby(sort=False).ngroup() without pandas)."""
    n = len(columns[0])
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    table = np.stack([_ranks(c) if c.dtype == object else c.view(np.int64) if c.dtype == np.uint64
                      else c.astype(np.int64) for c in columns], axis=1)
    _, first_sorted, inverse = np.unique(table, axis=0, return_index=True, return_inverse=True)
    by_appearance = np.argsort(first_sorted, kind="stable")
    rank = np.empty(len(first_sorted), dtype=np.int64)
    rank[by_appearance] = np.arange(len(first_sorted))
    return rank[inverse.reshape(-1)], first_sorted[by_appearance]


def build_nodes(prof: Profile, granularity: str, *, obj_names: bool = False) -> NodeTable:
    """Give every frame of ``prof`` its node at ``granularity`` (lines already aggregated)."""
    if granularity not in GRANULARITIES:
        raise OptionError(f"granularity must be one of {', '.join(GRANULARITIES)}, got {granularity!r}")
    keep_func = granularity in ("functions", "filefunctions", "lines", "addresses")
    keep_file = granularity in ("filefunctions", "files", "lines", "addresses")
    keep_line = granularity in ("lines", "addresses")
    keep_addr = granularity == "addresses"

    n_locs = len(prof.loc_id)
    objfiles = np.array([m.filename for m in prof.mappings] + [""], dtype=object)[prof.loc_mapping]
    addresses = prof.loc_address if keep_addr else np.zeros(n_locs, dtype=np.uint64)

    # One candidate NodeInfo per line entry and one per line-less location.
    counts = np.diff(prof.line_offsets)
    loc_of_line = np.repeat(np.arange(n_locs), counts)
    func_names = prof.func_name if keep_func else np.full(len(prof.func_name), "", dtype=object)
    func_files = (
        np.array([_clean(f) for f in prof.func_filename], dtype=object) if keep_file else np.full(len(prof.func_name), "", dtype=object)
    )
    lf = prof.line_func
    line_name = func_names[lf] if len(lf) else np.zeros(0, dtype=object)
    line_file = func_files[lf] if len(lf) else np.zeros(0, dtype=object)
    line_no = prof.line_no if keep_line else np.zeros(len(lf), dtype=np.int64)
    line_addr = addresses[loc_of_line]
    use_obj = np.array([obj_names or not n for n in line_name], dtype=bool)
    line_obj = np.where(use_obj, objfiles[loc_of_line], "")
    line_start = np.where(use_obj, prof.func_start_line[lf] if len(lf) else 0, 0)

    lineless = np.flatnonzero(counts == 0)
    info = {
        "address": np.concatenate([line_addr, prof.loc_address[lineless]]).astype(np.uint64),
        "name": np.concatenate([line_name, np.full(len(lineless), "", dtype=object)]),
        "file": np.concatenate([line_file, np.full(len(lineless), "", dtype=object)]),
        "lineno": np.concatenate([line_no, np.zeros(len(lineless), np.int64)]),
        "start_line": np.concatenate([line_start, np.zeros(len(lineless), np.int64)]).astype(np.int64),
        "objfile": np.concatenate([line_obj, objfiles[lineless]]),
    }
    codes, first = _row_codes(list(info.values()))
    nodes = {k: v[first] for k, v in info.items()}

    line_node = codes[: len(lf)]
    loc_node = np.full(n_locs, -1, dtype=np.int64)
    loc_node[lineless] = codes[len(lf):]

    address, name, file = nodes["address"], nodes["name"], nodes["file"]
    lineno, start, obj = nodes["lineno"], nodes["start_line"], nodes["objfile"]
    printable = np.array(
        [_printable(int(a), n, f, int(l), o) for a, n, f, l, o in zip(address, name, file, lineno, obj)], dtype=object
    )
    # fmt.Sprint of the NodeInfo struct: {Name OrigName Address File StartLine Lineno Objfile}
    sort_key = np.array(
        [f"{{{n}  {int(a)} {f} {int(s)} {int(l)} {o}}}" for a, n, f, l, s, o in zip(address, name, file, lineno, start, obj)],
        dtype=object,
    )
    return NodeTable(
        address=address, name=name, file=file, lineno=lineno, start_line=start, objfile=obj,
        printable=printable, sort_key=sort_key, prof=prof, line_node=line_node, loc_node=loc_node,
    )


@dataclass
class Graph:
    """Nodes with flat and cum weights, and caller->callee edges."""

    nodes: NodeTable
    flat: np.ndarray
    cum: np.ndarray
    flat_div: np.ndarray
    cum_div: np.ndarray
    edge_src: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    edge_dst: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    edge_weight: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    edge_div: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    edge_inline: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    edge_residual: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    selected: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # node order shown

    def restricted(self, kept: np.ndarray) -> "Graph":
        """This graph (built without edges) with only the ``kept`` nodes, as `build_graph`
        with ``kept`` would make it."""
        assert len(self.edge_src) == 0, "restricting a graph with edges would leave its residual edges out"
        out = Graph(nodes=self.nodes, flat=np.where(kept, self.flat, 0), cum=np.where(kept, self.cum, 0),
                    flat_div=np.where(kept, self.flat_div, 0), cum_div=np.where(kept, self.cum_div, 0))
        out.selected = self.selected[kept[self.selected]]
        return out

    @staticmethod
    def _value(v: np.ndarray, div: np.ndarray) -> np.ndarray:
        safe = np.where(div == 0, 1, div)
        q = np.abs(v) // np.abs(safe) * np.sign(v) * np.sign(safe)
        return np.where(div == 0, v, q)

    @property
    def flat_value(self) -> np.ndarray:
        return self._value(self.flat, self.flat_div)

    @property
    def cum_value(self) -> np.ndarray:
        return self._value(self.cum, self.cum_div)

    @property
    def edge_value(self) -> np.ndarray:
        return self._value(self.edge_weight, self.edge_div)


# Samples are walked in chunks of about this many frames, to bound the memory of the
# per-frame temporaries on large profiles.
FRAMES_PER_CHUNK = 1 << 19


def _sample_chunks(prof: Profile) -> list[tuple[int, int]]:
    n = prof.n_samples
    if n == 0:
        return [(0, 0)]
    targets = np.arange(FRAMES_PER_CHUNK, int(prof.stack_offsets[-1]), FRAMES_PER_CHUNK)
    cuts = np.unique(np.searchsorted(prof.stack_offsets, targets))
    bounds = [0, *[int(c) for c in cuts if 0 < c < n], n]
    return list(zip(bounds[:-1], bounds[1:]))


def build_graph(
    prof: Profile,
    nodes: NodeTable,
    weights: np.ndarray,
    divisors: np.ndarray | None = None,
    kept: np.ndarray | None = None,
    *,
    drop_negative: bool = False,
    edges: bool = True,
) -> Graph:
    """Flat, cum and edges for each node from per-sample ``weights`` (and mean ``divisors``);
    ``kept`` (bool per node) plays pprof's KeptNodes: other nodes are cut out of stacks."""
    n_nodes = len(nodes)
    w = np.asarray(weights, dtype=np.int64)
    dw = np.zeros_like(w) if divisors is None else np.asarray(divisors, dtype=np.int64)
    active = (w != 0) | (dw != 0)
    wf, dwf = w.astype(np.float64), dw.astype(np.float64)

    flat = np.zeros(n_nodes)
    flat_div = np.zeros(n_nodes)
    cum = np.zeros(n_nodes)
    cum_div = np.zeros(n_nodes)
    edge_parts = []
    for first_sample, stop_sample in _sample_chunks(prof):
        fr, fnode = nodes.frames(first_sample, stop_sample)
        fsample = fr.sample
        fkeep = active[fsample]
        if kept is not None:
            fkeep &= kept[fnode]
        frame_idx = np.flatnonzero(fkeep)
        sample_k = fsample[frame_idx]
        node_k = fnode[frame_idx]

        # flat: the leaf frame (depth 0) when it is kept
        depth0 = np.zeros(len(fnode), dtype=bool)
        if len(fnode):
            depth0[0] = True
            depth0[1:] = fsample[1:] != fsample[:-1]
        leaf = np.flatnonzero(depth0 & fkeep)
        flat += np.bincount(fnode[leaf], weights=wf[fsample[leaf]], minlength=n_nodes)
        flat_div += np.bincount(fnode[leaf], weights=dwf[fsample[leaf]], minlength=n_nodes)

        # cum: once per (sample, node); a node repeats in a sample only under recursion
        if len(frame_idx) == 0:
            continue
        once = _first_in_sample(sample_k, node_k, n_nodes)
        cum += np.bincount(node_k[once], weights=wf[sample_k[once]], minlength=n_nodes)
        cum_div += np.bincount(node_k[once], weights=dwf[sample_k[once]], minlength=n_nodes)
        if edges:
            recursive_samples = np.unique(sample_k[~once]) if not once.all() else None
            part = _edges(nodes, fr.inlined, frame_idx, sample_k, node_k, wf, dwf, recursive_samples)
            if part is not None:
                edge_parts.append(part)

    graph = Graph(
        nodes=nodes, flat=np.rint(flat).astype(np.int64), cum=np.rint(cum).astype(np.int64),
        flat_div=np.rint(flat_div).astype(np.int64), cum_div=np.rint(cum_div).astype(np.int64),
    )
    if edge_parts:
        _combine_edges(graph, edge_parts, n_nodes)

    present = (graph.cum != 0) | (graph.flat != 0)
    if kept is not None:
        present &= kept
    if drop_negative:
        negative = (graph.flat < 0) | ((graph.flat == 0) & (graph.cum < 0))
        present &= ~negative
    graph.selected = np.flatnonzero(present)
    return graph


def _first_occurrences(keys: np.ndarray) -> np.ndarray:
    """True where a key appears for the first time (pandas' ~duplicated(), with NumPy)."""
    first = np.zeros(len(keys), dtype=bool)
    if len(keys):
        first[np.unique(keys, return_index=True)[1]] = True
    return first


def _first_in_sample(sample_k: np.ndarray, node_k: np.ndarray, n_nodes: int) -> np.ndarray:
    """True for the first frame of each (sample, node) pair (frames are in sample order).
    With fewer than 65536 nodes a stable radix argsort by node puts a sample's repeats of
    a node next to each other, which is cheaper than hashing every (sample, node) key."""
    if n_nodes > 1 << 16:
        return _first_occurrences(sample_k.astype(np.int64) * n_nodes + node_k)
    order = np.argsort(node_k.astype(np.uint16), kind="stable")
    by_node, by_sample = node_k[order], sample_k[order]
    repeat = np.zeros(len(order), dtype=bool)
    repeat[1:] = (by_node[1:] == by_node[:-1]) & (by_sample[1:] == by_sample[:-1])
    once = np.ones(len(order), dtype=bool)
    once[order[repeat]] = False
    return once


def _edges(nodes: NodeTable, inlined, frame_idx, sample_k, node_k, wf, dwf, recursive_samples):
    """Caller -> callee edges between consecutive kept frames of a chunk, once per sample:
    (edge keys, weight, divisor, non-inline count, residual count) per distinct edge."""
    n_nodes = len(nodes)
    if len(frame_idx) < 2:
        return None
    same = sample_k[1:] == sample_k[:-1]
    callee = node_k[:-1][same]
    caller = node_k[1:][same]
    esample = sample_k[:-1][same]
    residual = (frame_idx[1:] - frame_idx[:-1])[same] > 1
    inline = inlined[frame_idx[:-1]][same]
    ok = callee != caller
    callee, caller, esample, residual, inline = callee[ok], caller[ok], esample[ok], residual[ok], inline[ok]
    edge_key = caller.astype(np.int64) * n_nodes + callee
    uniques, codes = np.unique(edge_key, return_inverse=True)
    codes = codes.reshape(-1)
    n_edges = len(uniques)
    if recursive_samples is not None:
        # Only a sample where some node repeats can repeat an edge: dedupe those.
        rec = np.flatnonzero(np.isin(esample, recursive_samples))
        dup = np.zeros(len(codes), dtype=bool)
        # Frames run leaf to root; pprof walks root to leaf and keeps an edge's first sighting
        # (its residual and inline flags), so keep the root-most occurrence.
        keys = esample[rec].astype(np.int64) * n_edges + codes[rec]
        dup[rec] = ~_first_occurrences(keys[::-1])[::-1]
        keep = ~dup
        codes, esample, residual, inline = codes[keep], esample[keep], residual[keep], inline[keep]
    return (
        uniques,
        np.bincount(codes, weights=wf[esample], minlength=n_edges),
        np.bincount(codes, weights=dwf[esample], minlength=n_edges),
        np.bincount(codes, weights=(~inline).astype(np.float64), minlength=n_edges),
        np.bincount(codes, weights=residual.astype(np.float64), minlength=n_edges),
    )


def _combine_edges(graph: Graph, parts: list, n_nodes: int) -> None:
    keys = np.concatenate([p[0] for p in parts])
    uniques, codes = np.unique(keys, return_inverse=True)
    codes = codes.reshape(-1)
    n = len(uniques)

    def total(i):
        return np.bincount(codes, weights=np.concatenate([p[i] for p in parts]), minlength=n)

    graph.edge_src = (uniques // n_nodes).astype(np.int64)
    graph.edge_dst = (uniques % n_nodes).astype(np.int64)
    graph.edge_weight = np.rint(total(1)).astype(np.int64)
    graph.edge_div = np.rint(total(2)).astype(np.int64)
    graph.edge_inline = total(3) == 0
    graph.edge_residual = total(4) > 0


def sort_nodes(graph: Graph, order: np.ndarray, cum_sort: bool) -> np.ndarray:
    """pprof's FlatNameOrder (or CumNameOrder with ``cum_sort``) over the node indices ``order``."""
    flat = np.abs(graph.flat[order])
    cum = np.abs(graph.cum[order])
    names = graph.nodes.printable[order]
    keys = graph.nodes.sort_key[order]
    # By -primary, name, -secondary, then fmt.Sprint(NodeInfo); np.lexsort's last key leads.
    idx = np.lexsort((_ranks(keys), -(flat if cum_sort else cum), _ranks(names), -(cum if cum_sort else flat)))
    return order[idx]
