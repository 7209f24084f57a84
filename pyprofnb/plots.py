"""matplotlib charts of profiles: top-N bars, flame graphs (plain and differential) and
totals over time across several profiles.

    from pyprofnb import plots
    plots.top_bars(prof, n=15, sample_index="alloc_space")
    plots.flame(prof)                          # plots.flame(pyprofnb.diff(current, base)) for a diff
    plots.over_time([heap1, heap2, heap3], sample_index="inuse_space", top=5)

Each function returns the matplotlib Axes it drew on (pass ``ax=`` to draw into your own).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .model.profile import Profile
from . import units
from .report import make_report
from .report.flame import draw_flame, flame_data


def _axes(ax, size):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=size)[1]


def _unit_formatter(unit: str):
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda v, _pos: units.scaled_label(v, unit, "auto"))


def top_bars(prof: Profile | pd.DataFrame, n: int = 10, *, column: str = "flat", ax=None, **options):
    """Horizontal bars of the ``n`` largest nodes by ``column`` ("flat" or "cum"), from a
    Profile (with go tool pprof ``options``) or a ``top`` DataFrame."""
    frame = prof if isinstance(prof, pd.DataFrame) else make_report(prof, "top", sort=column, **options)
    frame = frame.reindex(frame[column].abs().sort_values(ascending=False).index).head(n)
    ax = _axes(ax, (9, 0.35 * max(len(frame), 1) + 1.2))
    unit = frame.attrs.get("unit", "count")
    colours = np.where(frame[column].to_numpy() < 0, "#7fb77e", "#e8a15a")
    ax.barh(np.arange(len(frame)), frame[column].to_numpy(), color=colours, label=column)
    if column == "flat" and "cum" in frame:
        ax.barh(np.arange(len(frame)), frame["cum"].to_numpy(), color="none", edgecolor="#999", linewidth=0.8,
                label="cum (outline)")
        ax.legend(loc="lower right", fontsize=8, frameon=False)
    ax.set_yticks(np.arange(len(frame)), [_short(str(i)) for i in frame.index], fontsize=8)
    ax.invert_yaxis()
    ax.xaxis.set_major_formatter(_unit_formatter(unit))
    sample_type = frame.attrs.get("sample_type", "")
    ax.set_title(f"top {len(frame)} by {column}" + (f" of {sample_type}" if sample_type else ""), loc="left", fontsize=10)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return ax


def _short(name: str, width: int = 60) -> str:
    return name if len(name) <= width else "…" + name[-(width - 1):]


def flame(prof: Profile | pd.DataFrame, *, ax=None, title: str | None = None, max_depth: int | None = None,
          **options):
    """The flame graph as a matplotlib figure (root on top). A ``-diff_base``/``-base``
    profile (``pyprofnb.diff(current, base)``) is drawn differentially: red grew, blue shrank,
    box width = increase + decrease."""
    frame = prof if isinstance(prof, pd.DataFrame) else flame_data(prof, **options)
    return draw_flame(frame, ax, title=title, max_depth=max_depth)


def diff_flame(current: Profile, base: Profile, *, ax=None, **options):
    """The differential flame graph of ``current`` against ``base`` (go tool pprof -diff_base)."""
    from .model.profile import diff

    return flame(diff(current, base), ax=ax, **options)


def over_time(profiles, *, sample_index: str | None = None, top: int = 0, labels=None, ax=None, rate: bool = False,
              **options):
    """Totals of ``sample_index`` across several profiles taken one after another (a heap
    growing, CPU per interval), against the time each was taken; ``top=N`` adds one line per
    function for the N largest (by flat in the last profile). ``rate=True`` divides each value
    by the profile's duration (CPU profiles: cores busy). Returns the Axes; the numbers are in
    ``ax.pyprofnb_data`` (a DataFrame)."""
    profiles = list(profiles)
    if not profiles:
        from .errors import OptionError

        raise OptionError("over_time needs at least one profile")
    times = np.array([p.time_nanos for p in profiles], dtype=np.float64)
    x = (times - times[0]) / 1e9 if np.all(times > 0) else np.arange(len(profiles), dtype=np.float64)
    xlabel = "seconds since the first profile" if np.all(times > 0) else "profile"
    index = profiles[0].sample_type_index(sample_index or None)
    vt = profiles[0].sample_types[index]
    data = pd.DataFrame(index=pd.Index(x, name=xlabel))
    data["total"] = [p.total(vt.type) for p in profiles]
    if top:
        frames = [make_report(p, "top", sample_index=vt.type, **options) for p in profiles]
        names = frames[-1]["flat"].abs().sort_values(ascending=False).index[:top]
        for name in names:
            data[name] = [f["flat"].get(name, 0) for f in frames]
    if rate:
        durations = np.array([p.duration_nanos or 0 for p in profiles], dtype=np.float64)
        data = data.div(np.where(durations > 0, durations, np.nan), axis=0)
    ax = _axes(ax, (9, 4))
    for k, column in enumerate(data.columns):
        ax.plot(data.index, data[column], marker="o", linewidth=2.2 if k == 0 else 1.2,
                label=column if labels is None else labels[k])
    if not rate:
        ax.yaxis.set_major_formatter(_unit_formatter(vt.unit))
    ax.set_xlabel(xlabel)
    ax.set_title(f"{vt.type}{' per second' if rate else ''} over time", loc="left", fontsize=10)
    ax.legend(fontsize=8, frameon=False)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.pyprofnb_data = data
    return ax


__all__ = ["diff_flame", "flame", "over_time", "top_bars"]
