"""``-tags``: for every label key, the weight of each of its values (pprof's printTags).

String labels count under their value; numeric labels under their value formatted with
the label's unit (``256kB``), so equal-looking sizes add up.
"""
from __future__ import annotations

import pandas as pd

from ..model.filters import label_units
from .. import units
from .core import Report
from .traces import go_loaded


def _tag_weights(rpt: Report) -> dict[str, dict[str, int]]:
    prof = rpt.prof
    weights = rpt.weights.tolist()
    num_units = label_units(rpt.source)
    out: dict[str, dict[str, int]] = {}
    for s, key, text, num in zip(prof.label_sample.tolist(), prof.label_key, prof.label_str, prof.label_num.tolist()):
        if text is None:
            text = units.scaled_label(num, num_units.get(key, key), rpt.opts.unit)
        values = out.setdefault(key, {})
        values[text] = values.get(text, 0) + weights[s]
    return out


def _sorted_tags(tags: dict[str, int]) -> list[tuple[str, int]]:
    """pprof's SortTags(flat): |weight| descending, then name."""
    return sorted(tags.items(), key=lambda kv: (-abs(kv[1]), kv[0]))


def tags_frame(rpt: Report) -> pd.DataFrame:
    """One row per (key, value): the value's weight and its share of the key's total."""
    rpt = go_loaded(rpt)
    rows = []
    for key, tags in sorted(_tag_weights(rpt).items()):
        total = sum(tags.values())
        for value, weight in _sorted_tags(tags):
            rows.append((key, value, weight, abs(weight) / total * 100 if total > 0 else float("nan")))
    frame = pd.DataFrame(rows, columns=["key", "value", "weight", "percent"]).set_index(["key", "value"])
    frame.attrs.update(unit=rpt.sample_unit, sample_type=rpt.sample_type)
    return frame


def tags_text(rpt: Report) -> str:
    rpt = go_loaded(rpt)
    lines: list[str] = []

    def scaled(v: int) -> str:
        number, unit = units.scale(v, rpt.sample_unit, rpt.opts.unit)
        return f"{number:.1f}{unit}"

    for key, tags in sorted(_tag_weights(rpt).items()):
        total = sum(tags.values())
        lines.append(f"{key}:\t Total {scaled(total)}")
        for value, weight in _sorted_tags(tags):
            if total > 0:
                lines.append(f" \t{scaled(weight)} ({units.percentage(weight, total)}):\t {value}")
            else:
                lines.append(f" \t{scaled(weight)}:\t {value}")
        lines.append("")
    return tabwrite(lines)


def tabwrite(lines: list[str], padding: int = 1) -> str:
    """Go's text/tabwriter with AlignRight: tab-terminated cells aligned in column blocks
    (runs of consecutive lines that have that column), padded on the left."""
    rows = [line.split("\t") for line in lines]
    widths_of: list[list[int]] = [[] for _ in rows]

    def format_block(line0: int, line1: int, widths: list[int]) -> None:
        column = len(widths)
        this = line0
        while this < line1:
            if column >= len(rows[this]) - 1:
                widths_of[this] = list(widths)
                this += 1
                continue
            start = this
            width = 0
            while this < line1 and column < len(rows[this]) - 1:
                width = max(width, len(rows[this][column]) + padding)
                this += 1
            format_block(start, this, widths + [width])

    format_block(0, len(rows), [])
    out = []
    for cells, widths in zip(rows, widths_of):
        text = []
        for j, cell in enumerate(cells):
            if j < len(widths):
                text.append(" " * (widths[j] - len(cell)) + cell)
            else:
                text.append(cell)
        out.append("".join(text))
    return "\n".join(out) + "\n" if out else ""


from . import register as _register  # noqa: E402  (the package imports this module lazily)

_register("tags", frame=tags_frame, text=tags_text)
