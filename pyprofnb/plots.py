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


class _UnitLocator:
    """Round ticks in a display unit: 10 MB, 20 MB, 30 MB, not the round numbers of bytes
    (10,000,000 B shown as 9.54MB)."""

    def __init__(self, factor: float):
        from matplotlib.ticker import MaxNLocator

        self.factor = factor
        self.inner = MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10])

    def make(self):
        from matplotlib.ticker import Locator

        outer = self

        class Scaled(Locator):
            def __call__(self):
                vmin, vmax = self.axis.get_view_interval()
                return self.tick_values(vmin, vmax)

            def tick_values(self, vmin, vmax):
                return outer.inner.tick_values(vmin / outer.factor, vmax / outer.factor) * outer.factor

        return Scaled()


def display_unit(values, unit: str) -> tuple[float, str]:
    """The unit to show ``values`` (in the profile's ``unit``) in, as (units per display
    unit, name): bytes up to 28 MiB -> (1048576, "MB"), nanoseconds -> (1e9, "s"), counts ->
    (1, "")."""
    largest = float(np.nanmax(np.abs(np.asarray(values, dtype=np.float64)))) if np.size(values) else 0.0
    if not np.isfinite(largest) or largest == 0:
        return 1.0, units.scale(1, unit, "auto")[1]
    scaled, name = units.scale(largest, unit, "auto")
    return (largest / scaled if scaled else 1.0), name


def _tick_label(value: float, factor: float, name: str) -> str:
    v = round(value / factor, 9)
    if v == 0:
        return "0"
    text = f"{v:,.6g}" if name else f"{v:,.0f}" if abs(v) >= 1 else f"{v:.3g}"
    return f"{text} {name}" if name else text


def unit_axis(axis, values, unit: str) -> str:
    """Put round ticks in the display unit of ``values`` on a matplotlib ``axis``
    (``ax.xaxis``/``ax.yaxis``); returns the unit's name ("" for counts)."""
    from matplotlib.ticker import FuncFormatter

    factor, name = display_unit(values, unit)
    axis.set_major_locator(_UnitLocator(factor).make())
    axis.set_major_formatter(FuncFormatter(lambda v, _pos: _tick_label(v, factor, name)))
    return name


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
        # Above the plot, right of the title: never over a bar.
        ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=2, fontsize=8, frameon=False,
                  borderaxespad=0.2)
    ax.set_yticks(np.arange(len(frame)), [_short(str(i)) for i in frame.index], fontsize=8)
    ax.invert_yaxis()
    values = frame[[c for c in (column, "cum") if c in frame]].to_numpy()
    unit_name = unit_axis(ax.xaxis, values, unit)
    sample_type = frame.attrs.get("sample_type", "")
    what = sample_type or "value"
    ax.set_xlabel(f"{what} ({unit_name})" if unit_name else what)
    ax.set_title(f"top {len(frame)} by {column}" + (f" of {sample_type}" if sample_type else ""), loc="left", fontsize=10)
    ax.grid(axis="x", color="#eee", linewidth=0.8)
    ax.set_axisbelow(True)
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
              times=None, **options):
    """Totals of ``sample_index`` across several profiles taken one after another (a heap
    growing, CPU per interval), against the time each was taken; ``top=N`` adds one line per
    function for the N largest (by flat in the last profile). ``rate=True`` divides each value
    by the profile's duration in seconds (a CPU profile's seconds per second: cores busy).

    The x axis is seconds since the first profile, from each profile's ``time_nanos`` (the
    time it was taken), or from ``times`` (seconds, one per profile) when given. Profiles
    without usable time stamps (missing, or not increasing) are drawn in the order given,
    and the axis says so. Returns the Axes; the numbers are in ``ax.pyprofnb_data`` (a
    DataFrame indexed by the plotted x values)."""
    profiles = list(profiles)
    if not profiles:
        from .errors import OptionError

        raise OptionError("over_time needs at least one profile")
    if times is not None:
        stamps = np.asarray(list(times), dtype=np.float64)
        if stamps.shape != (len(profiles),):
            from .errors import OptionError

            raise OptionError(f"over_time: times must give one time per profile ({len(profiles)}), got {stamps.size}")
        x, xlabel = stamps - stamps[0], "seconds since the first profile"
    else:
        stamps = np.array([p.time_nanos for p in profiles], dtype=np.float64)
        if np.all(stamps > 0) and (len(stamps) == 1 or np.all(np.diff(stamps) > 0)):
            x, xlabel = (stamps - stamps[0]) / 1e9, "seconds since the first profile (when each was taken)"
        else:
            x, xlabel = np.arange(len(profiles), dtype=np.float64), "profile, in the order given (no increasing time stamps)"
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
        data = data.div(np.where(durations > 0, durations / 1e9, np.nan), axis=0)
    ax = _axes(ax, (9, 4))
    for k, column in enumerate(data.columns):
        ax.plot(data.index, data[column], marker="o", linewidth=2.2 if k == 0 else 1.2,
                label=column if labels is None else labels[k])
    unit_name = unit_axis(ax.yaxis, data.to_numpy(), vt.unit)
    per = " per second" if rate else ""
    ax.set_ylabel(f"{vt.type}{per} ({unit_name})" if unit_name else f"{vt.type}{per}")
    ax.set_ylim(bottom=min(0, float(np.nanmin(data.to_numpy()))))
    ax.set_xlabel(xlabel)
    if xlabel.startswith("profile"):
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(f"{vt.type}{per} over time", loc="left", fontsize=10)
    ax.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(color="#eee", linewidth=0.8)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.pyprofnb_data = data
    return ax


__all__ = ["diff_flame", "display_unit", "flame", "over_time", "top_bars", "unit_axis"]
