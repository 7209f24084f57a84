"""``callgrind``: the call graph in callgrind format for KCachegrind/QCachegrind, as go tool
pprof writes it (report.printCallgrind): every node at address granularity, untrimmed, with
its flat cost and its calls with their weights.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from ..options import ReportOptions
from ..model import Profile
from .. import units
from .core import prepare
from .tree import edge_order


def _name(names: dict[str, int], name: str) -> str:
    """Callgrind's name compression: "(N) name" the first time, "(N)" after."""
    if not name:
        return ""
    if name in names:
        return f"({names[name]})"
    names[name] = len(names) + 1
    return f"({names[name]}) {name}"


def _address(prev: int | None, curr: int) -> str:
    absolute = hex(curr)
    if prev is None:
        return absolute
    if prev == curr:
        return "*"
    diff = (curr - prev + 2**63) % 2**64 - 2**63  # Go's int64(curr - prev) on uint64s
    relative = f"{diff:+d}"
    return relative if len(relative) < len(absolute) else absolute


def callgrind_text(prof: Profile, options: ReportOptions | None = None) -> str:
    opts = dataclasses.replace(options or ReportOptions(), trim=False, granularity="addresses", noinlines=False,
                               nodefraction=0.0, edgefraction=0.0, nodecount=0)
    rpt = prepare(prof, "raw", opts)
    graph, order, *_ = rpt.trimmed_graph()
    rpt.select_output_unit(graph, order)
    nodes = graph.nodes
    unit = rpt.output_unit

    def scaled(v) -> int:
        return int(units.scale(int(v), rpt.sample_unit, unit)[0])

    out = ["positions: instr line", f"events: {rpt.sample_type}({unit})"]
    objfiles: dict[str, int] = {}
    files: dict[str, int] = {}
    names: dict[str, int] = {}
    by_src: dict[int, list[int]] = {}
    for e, s in enumerate(graph.edge_src.tolist()):
        by_src.setdefault(s, []).append(e)
    prev = None
    for n in order.tolist():
        info = (str(nodes.objfile[n] or ""), str(nodes.file[n] or ""), str(nodes.name[n] or ""))
        if prev is None or info != (str(nodes.objfile[prev] or ""), str(nodes.file[prev] or ""), str(nodes.name[prev] or "")):
            out += ["", "ob=" + _name(objfiles, info[0]), "fl=" + _name(files, info[1]), "fn=" + _name(names, info[2])]
        prev_address = int(nodes.address[prev]) if prev is not None else None
        out.append(f"{_address(prev_address, int(nodes.address[n]))} {int(nodes.lineno[n])} {scaled(graph.flat_value[n])}")
        for e in edge_order(graph, np.array(by_src.get(n, []), dtype=np.int64)).tolist():
            callee = int(graph.edge_dst[e])
            out.append("cfl=" + _name(files, str(nodes.file[callee] or "")))
            out.append("cfn=" + _name(names, str(nodes.name[callee] or "")))
            out.append(f"calls=0 {_address(prev_address, int(nodes.address[callee]))} {int(nodes.lineno[callee])}")
            out.append(f"* * {scaled(graph.edge_weight[e])}")
        prev = n
    return "\n".join(out) + "\n"


__all__ = ["callgrind_text"]
