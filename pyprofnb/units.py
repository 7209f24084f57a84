"""Units and number formatting, the way go tool pprof prints them (internal/measurement).

Every report formats values and percentages through this module and nothing else.
"""
from __future__ import annotations

from dataclasses import dataclass

from .errors import OptionError


@dataclass(frozen=True)
class _Unit:
    name: str
    aliases: tuple[str, ...]
    factor: float


@dataclass(frozen=True)
class _UnitFamily:
    units: tuple[_Unit, ...]
    default: _Unit

    def sniff(self, unit: str) -> _Unit | None:
        unit = unit.lower()
        if len(unit) > 2:
            unit = unit.removesuffix("s")
        for u in self.units:
            if unit in u.aliases:
                return u
        return None

    def auto_scale(self, value: float) -> tuple[float, str] | None:
        factor, name = 0.0, ""
        for u in self.units:
            if u.factor >= factor and value / u.factor >= 1.0:
                factor, name = u.factor, u.name
        if factor == 0:
            return None
        return value / factor, name


_BYTES = _UnitFamily(
    units=(
        _Unit("B", ("b", "byte"), 1),
        _Unit("kB", ("kb", "kbyte", "kilobyte"), 1 << 10),
        _Unit("MB", ("mb", "mbyte", "megabyte"), 1 << 20),
        _Unit("GB", ("gb", "gbyte", "gigabyte"), 1 << 30),
        _Unit("TB", ("tb", "tbyte", "terabyte"), 1 << 40),
        _Unit("PB", ("pb", "pbyte", "petabyte"), 1 << 50),
    ),
    default=_Unit("B", ("b", "byte"), 1),
)
_TIME = _UnitFamily(
    units=(
        _Unit("ns", ("ns", "nanosecond"), 1),
        _Unit("us", ("μs", "us", "microsecond"), 1e3),
        _Unit("ms", ("ms", "millisecond"), 1e6),
        _Unit("s", ("s", "sec", "second"), 1e9),
        _Unit("hrs", ("hour", "hr"), 3600e9),
    ),
    default=_Unit("s", (), 1e9),
)
_GCU = _UnitFamily(
    units=(
        _Unit("n*GCU", ("nanogcu",), 1e-9),
        _Unit("u*GCU", ("microgcu",), 1e-6),
        _Unit("m*GCU", ("milligcu",), 1e-3),
        _Unit("GCU", ("gcu",), 1),
        _Unit("k*GCU", ("kilogcu",), 1e3),
        _Unit("M*GCU", ("megagcu",), 1e6),
        _Unit("G*GCU", ("gigagcu",), 1e9),
        _Unit("T*GCU", ("teragcu",), 1e12),
        _Unit("P*GCU", ("petagcu",), 1e15),
    ),
    default=_Unit("GCU", (), 1.0),
)
UNIT_FAMILIES = (_BYTES, _TIME, _GCU)


def scale(value: float, from_unit: str, to_unit: str) -> tuple[float, str]:
    """``value`` in ``from_unit`` expressed in ``to_unit`` ("minimum"/"auto" pick one);
    returns the number and the unit's printed name ("" for plain counts)."""
    if value < 0:
        v, u = scale(-value, from_unit, to_unit)
        return -v, u
    for family in UNIT_FAMILIES:
        src = family.sniff(from_unit)
        if src is None:
            continue
        v = float(value) * src.factor
        if to_unit in ("minimum", "auto"):
            auto = family.auto_scale(v)
            if auto is not None:
                return auto
            return v / family.default.factor, family.default.name
        dst = family.sniff(to_unit)
        if dst is None:
            return v / family.default.factor, family.default.name
        return v / dst.factor, dst.name
    if to_unit in ("count", "sample", "unit", "minimum", "auto"):
        return float(value), ""
    return float(value), to_unit


def scaled_label(value: float, from_unit: str, to_unit: str) -> str:
    """``1.10s``, ``62.50MB``, ``0``: two decimals, a trailing ``.00`` removed."""
    v, u = scale(value, from_unit, to_unit)
    text = f"{v:.2f}".removesuffix(".00")
    if text in ("0", "-0"):
        return "0"
    return text + u


def label(value: float, unit: str) -> str:
    return scaled_label(value, unit, "auto")


def _go_g2(ratio: float) -> str:
    """Go's ``%5.2g``."""
    text = f"{ratio:.2g}"
    if "e" in text:
        mantissa, exp = text.split("e")
        sign = exp[0]
        digits = exp[1:].lstrip("0").rjust(2, "0")
        text = f"{mantissa}e{sign}{digits}"
    return text.rjust(5)


def percentage(value: float, total: float) -> str:
    """pprof's percentage column: ``28.50%``, `` 0.89%``, ``  100%``, ``    0%``."""
    ratio = abs(value / total) * 100 if total != 0 else 0.0
    if 99.95 <= ratio <= 100.05:
        return "  100%"
    if ratio >= 1.0:
        return f"{ratio:5.2f}%"
    return _go_g2(ratio) + "%"


def compatible_units(a: str, b: str) -> bool:
    if a == b:
        return True
    return any(f.sniff(a) and f.sniff(b) for f in UNIT_FAMILIES)


def check_output_unit(unit: str) -> str:
    """Validate ``-unit``: minimum, auto, or a unit pprof knows."""
    if unit in ("minimum", "auto", "count", "sample", "unit"):
        return unit
    if any(f.sniff(unit) for f in UNIT_FAMILIES):
        return unit
    known = sorted({u.name for f in UNIT_FAMILIES for u in f.units})
    raise OptionError(f"unit {unit!r} must be minimum, auto or one of: {', '.join(known)}")


def select_output_unit(min_value: int, total: int, sample_unit: str, ratio: float = 1.0) -> str:
    """The unit pprof picks for a report under ``-unit=minimum``: the smallest nonzero value's
    unit, or a larger one when min*100 < max (so small values print as 0.01x)."""
    max_value = total
    if min_value == 0:
        min_value = max_value
    if ratio > 0 and ratio != 1:
        min_value = int(min_value * ratio)
        max_value = int(max_value * ratio)
    _, min_unit = scale(min_value, sample_unit, "minimum")
    _, max_unit = scale(max_value, sample_unit, "minimum")
    unit = min_unit
    if min_unit != max_unit and min_value * 100 < max_value:
        _, unit = scale(100 * min_value, sample_unit, "minimum")
    return unit or sample_unit


def duration_label(nanos: int) -> str:
    return label(nanos, "nanoseconds")


__all__ = [
    "check_output_unit", "compatible_units", "duration_label", "label", "percentage", "scale",
    "scaled_label", "select_output_unit",
]
