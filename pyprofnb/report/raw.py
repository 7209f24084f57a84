"""``-raw``: the profile's debug dump, as pprof's Profile.String() prints it.

pprof prints the profile it holds after loading, and loading merges even a single source:
locations, functions and mappings are renumbered in the order samples first reach them,
all-zero samples go and identical samples add up. The dump follows that numbering.
"""
from __future__ import annotations

import dataclasses
import time

import numpy as np
import pandas as pd

from ..model.profile import Mapping, Profile
from .core import Report
from .traces import go_loaded


def go_duration(nanos: int) -> str:
    """Go's time.Duration.String()."""
    neg, u = nanos < 0, abs(int(nanos))
    if u == 0:
        return "0s"

    def frac(value: int, digits: int) -> str:
        whole, rest = divmod(value, 10**digits)
        tail = f"{rest:0{digits}d}".rstrip("0")
        return f"{whole}.{tail}" if tail else str(whole)

    if u < 10**9:
        if u < 1000:
            text = f"{u}ns"
        elif u < 10**6:
            text = frac(u, 3) + "µs"
        else:
            text = frac(u, 6) + "ms"
    else:
        secs, rest = divmod(u, 10**9)
        text = frac((secs % 60) * 10**9 + rest, 9) + "s"
        minutes = secs // 60
        if minutes:
            text = f"{minutes % 60}m" + text
            if minutes // 60:
                text = f"{minutes // 60}h" + text
    return ("-" if neg else "") + text


def go_time(nanos: int) -> str:
    """Go's time.Time.String() of time.Unix(0, nanos), in local time."""
    secs, rest = divmod(int(nanos), 10**9)
    t = time.localtime(secs)
    fraction = f".{rest:09d}".rstrip("0").rstrip(".")
    offset = t.tm_gmtoff
    sign = "+" if offset >= 0 else "-"
    hours, minutes = divmod(abs(offset) // 60, 60)
    return f"{time.strftime('%Y-%m-%d %H:%M:%S', t)}{fraction} {sign}{hours:02d}{minutes:02d} {time.strftime('%Z', t)}"


def go_numbering(prof: Profile) -> tuple[np.ndarray, list[int]]:
    """pprof's merge order: per location index its new id (0 when no sample reaches it), and
    the mapping indices in new-id order (the first mapping first, then by first use)."""
    loc_ids = np.zeros(len(prof.loc_id), dtype=np.int64)
    order = pd.unique(prof.stack_locs) if len(prof.stack_locs) else np.zeros(0, np.int64)
    loc_ids[order] = np.arange(1, len(order) + 1)
    mappings = [0] if prof.mappings else []
    used = prof.loc_mapping[order] if len(order) else np.zeros(0, np.int64)
    for m in pd.unique(used[used >= 0]).tolist():
        if m not in mappings:
            mappings.append(int(m))
    return loc_ids, mappings


def _go_list(values: list[str]) -> str:
    return "[" + " ".join(values) + "]"


def _sample_label_lines(prof: Profile) -> tuple[list[str], list[str]]:
    n = prof.n_samples
    strings: list[dict[str, list[str]]] = [dict() for _ in range(n)]
    numbers: list[dict[str, list[tuple[int, str]]]] = [dict() for _ in range(n)]
    for s, key, text, num, unit in zip(prof.label_sample.tolist(), prof.label_key, prof.label_str,
                                       prof.label_num.tolist(), prof.label_unit):
        if text is not None:
            strings[s].setdefault(key, []).append(text)
        elif num != 0 or unit:
            numbers[s].setdefault(key, []).append((num, unit or ""))
    str_lines, num_lines = [], []
    for i in range(n):
        str_lines.append(" ".join(sorted(f"{k}:{_go_list(v)}" for k, v in strings[i].items())))
        parts = []
        for k, vals in numbers[i].items():
            if any(u for _, u in vals):
                parts.append(f"{k}:{_go_list([f'{v} {u}' for v, u in vals])}")
            else:
                parts.append(f"{k}:{_go_list([str(v) for v, _ in vals])}")
        num_lines.append(" ".join(sorted(parts)))
    return str_lines, num_lines


def raw_frame(rpt: Report) -> pd.DataFrame:
    """The samples as pprof numbers them: values per sample type and location ids (leaf first)."""
    rpt = go_loaded(rpt)
    prof = rpt.prof
    loc_ids, _ = go_numbering(rpt.source)
    ids = loc_ids[prof.stack_locs]
    stacks = [ids[a:b].tolist() for a, b in zip(prof.stack_offsets[:-1].tolist(), prof.stack_offsets[1:].tolist())]
    frame = pd.DataFrame(prof.values, columns=[t.type for t in prof.sample_types])
    frame["locations"] = stacks
    frame.index.name = "sample"
    return frame


def raw_text(rpt: Report) -> str:
    rpt = go_loaded(rpt)
    prof = rpt.prof
    if not rpt.source.mappings:
        # pprof gives a profile without mappings one empty mapping for all its locations.
        prof = prof.replace(mappings=[Mapping(id=1)], loc_mapping=np.zeros(len(prof.loc_id), dtype=np.int64))
        rpt = dataclasses.replace(rpt, source=rpt.source.replace(
            mappings=[Mapping(id=1)], loc_mapping=np.zeros(len(rpt.source.loc_id), dtype=np.int64)))
    loc_ids, mapping_order = go_numbering(rpt.source)
    mapping_ids = {m: i + 1 for i, m in enumerate(mapping_order)}
    out = [f"Comment: {c}" for c in prof.comments]
    if prof.period_type is not None:
        out.append(f"PeriodType: {prof.period_type.type} {prof.period_type.unit}")
    out.append(f"Period: {prof.period}")
    if prof.time_nanos:
        out.append(f"Time: {go_time(prof.time_nanos)}")
    if prof.duration_nanos:
        out.append(f"Duration: {go_duration(prof.duration_nanos)[:4]}")
    out.append("Samples:")
    out.append(" ".join(
        f"{t.type}/{t.unit}{'[dflt]' if t.type == prof.default_sample_type else ''}" for t in prof.sample_types
    ))
    str_lines, num_lines = _sample_label_lines(prof)
    ids = loc_ids[prof.stack_locs]
    offsets = prof.stack_offsets.tolist()
    for s, row in enumerate(prof.values.tolist()):
        head = "".join(f" {v:10d}" for v in row) + ": " + "".join(f"{i} " for i in ids[offsets[s]:offsets[s + 1]].tolist())
        out.append(head)
        if str_lines[s]:
            out.append("                " + str_lines[s])
        if num_lines[s]:
            out.append("                " + num_lines[s])
    out.append("Locations")
    by_id = np.argsort(loc_ids)
    by_id = by_id[loc_ids[by_id] > 0]
    for loc in by_id.tolist():
        head = f"{loc_ids[loc]:6d}: {prof.loc_address[loc]:#x} "
        mapping = int(prof.loc_mapping[loc])
        if mapping >= 0:
            head += f"M={mapping_ids.get(mapping, mapping + 1)} "
        if prof.loc_folded[loc]:
            head += "[F] "
        lo, hi = int(prof.line_offsets[loc]), int(prof.line_offsets[loc + 1])
        if lo == hi:
            out.append(head)
        for li in range(lo, hi):
            f = int(prof.line_func[li])
            text = (f"{prof.func_name[f]} {prof.func_filename[f]}:{prof.line_no[li]} s={prof.func_start_line[f]}")
            if prof.func_name[f] != prof.func_system_name[f]:
                text += f"({prof.func_system_name[f]})"
            out.append(head + text)
            head = "             "
    out.append("Mappings")
    for new_id, m in enumerate(mapping_order, start=1):
        mp = prof.mappings[m]
        bits = "".join(flag for flag, on in (("[FN]", mp.has_functions), ("[FL]", mp.has_filenames),
                                             ("[LN]", mp.has_line_numbers), ("[IN]", mp.has_inline_frames)) if on)
        out.append(f"{new_id}: {mp.memory_start:#x}/{mp.memory_limit:#x}/{mp.file_offset:#x} {mp.filename} {mp.build_id} {bits}")
    return "\n".join(out) + "\n"


from . import register as _register  # noqa: E402  (the package imports this module lazily)

_register("raw", frame=raw_frame, text=raw_text)
