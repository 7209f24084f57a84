"""``topproto``: the top report as a profile.proto (go tool pprof's printTopProto): one
location and one sample per node, with its cum and flat in the report's output unit."""
from __future__ import annotations

import dataclasses

from ..options import ReportOptions
from ..model import Profile, ProfileBuilder
from .. import units
from .core import prepare


def topproto_profile(prof: Profile, options: ReportOptions | None = None) -> Profile:
    opts = dataclasses.replace(options or ReportOptions())
    if opts.nodecount == -1:
        opts.nodecount = 0
    rpt = prepare(prof, "topproto", opts)
    graph, order, *_ = rpt.trimmed_graph()
    rpt.select_output_unit(graph, order)
    unit = rpt.output_unit
    builder = ProfileBuilder([("cum", unit), ("flat", unit)], period_type=prof.period_type, period=prof.period)
    nodes = graph.nodes
    for n in order.tolist():
        flat = int(units.scale(int(graph.flat_value[n]), rpt.sample_unit, unit)[0])
        cum = int(units.scale(int(graph.cum_value[n]), rpt.sample_unit, unit)[0])
        # pprof fills SystemName from the node's OrigName, which graph nodes leave empty.
        frame = (str(nodes.name[n]), str(nodes.file[n] or ""), int(nodes.lineno[n]), int(nodes.start_line[n]), "")
        builder.add([frame], [cum, flat])
    return builder.build(time_nanos=prof.time_nanos, duration_nanos=prof.duration_nanos)


def topproto_bytes(prof: Profile, options: ReportOptions | None = None) -> bytes:
    return topproto_profile(prof, options).to_bytes()


__all__ = ["topproto_bytes", "topproto_profile"]
