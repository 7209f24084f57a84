"""The profile model: pprof's profile.proto held as NumPy columns.

A `Profile` keeps pprof's own terms (sample types, samples with leaf-first stacks,
locations with inline lines, functions, mappings, labels, period, time) but stores the bulk
as arrays, so a million samples load, merge and aggregate without a Python loop per sample:

- samples: ``values`` (n_samples x n_types, int64) and a CSR stack: ``stack_offsets``
  (n_samples + 1) into ``stack_locs`` (indices into the location columns, leaf first);
- labels in long form: ``label_sample``, ``label_key``, ``label_str`` (None for numeric),
  ``label_num``, ``label_unit``;
- locations: ``loc_id``, ``loc_mapping`` (index into ``mappings`` or -1), ``loc_address``,
  ``loc_folded`` and a CSR of inline lines (``line_offsets`` into ``line_func``,
  ``line_no``, ``line_col``; callee first, the last line is the out-of-line caller);
- functions: ``func_id``, ``func_name``, ``func_system_name``, ``func_filename``,
  ``func_start_line``.

The model knows nothing of reports, codecs or display: its convenience methods (``top``,
``text``, ``report``, ``*_df``, ``to_bytes``) call what `pyprofnb.facade` installs.
"""
from __future__ import annotations

import copy
import dataclasses
import functools
import math
import sys
from typing import Iterable, Sequence

import numpy as np

from ..errors import IncompatibleProfilesError, InvalidProfileError, OptionError, PprofError

# Heap sample types under their legacy flag names, in Go's order.
HEAP_SAMPLE_TYPES = ("alloc_objects", "alloc_space", "inuse_objects", "inuse_space")

_EMPTY_I64 = np.zeros(0, dtype=np.int64)


@dataclasses.dataclass(frozen=True)
class ValueType:
    """One value slot of a sample, or the profile's period: a kind and its unit."""

    type: str
    unit: str

    def __str__(self) -> str:
        return f"{self.type}/{self.unit}"


@dataclasses.dataclass(frozen=True)
class Mapping:
    """A binary or pseudo file mapped into the profiled process."""

    id: int
    memory_start: int = 0
    memory_limit: int = 0
    file_offset: int = 0
    filename: str = ""
    build_id: str = ""
    has_functions: bool = False
    has_filenames: bool = False
    has_line_numbers: bool = False
    has_inline_frames: bool = False

    def key(self) -> tuple:
        return (self.memory_start, self.memory_limit, self.file_offset, self.filename, self.build_id)


def _objects(values: Iterable) -> np.ndarray:
    """An object array of strings (np.array would guess a fixed-width string dtype)."""
    values = list(values)
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


class Profile:
    """A pprof profile. Build one with `ProfileBuilder` or read one with `pyprofnb.load`."""

    def __init__(
        self,
        *,
        sample_types: Sequence[ValueType],
        values: np.ndarray,
        stack_offsets: np.ndarray,
        stack_locs: np.ndarray,
        loc_id: np.ndarray,
        loc_mapping: np.ndarray,
        loc_address: np.ndarray,
        loc_folded: np.ndarray,
        line_offsets: np.ndarray,
        line_func: np.ndarray,
        line_no: np.ndarray,
        line_col: np.ndarray,
        func_id: np.ndarray,
        func_name: np.ndarray,
        func_system_name: np.ndarray,
        func_filename: np.ndarray,
        func_start_line: np.ndarray,
        mappings: Sequence[Mapping] = (),
        label_sample: np.ndarray = _EMPTY_I64,
        label_key: np.ndarray | None = None,
        label_str: np.ndarray | None = None,
        label_num: np.ndarray = _EMPTY_I64,
        label_unit: np.ndarray | None = None,
        default_sample_type: str = "",
        period_type: ValueType | None = None,
        period: int = 0,
        time_nanos: int = 0,
        duration_nanos: int = 0,
        comments: Sequence[str] = (),
        drop_frames: str = "",
        keep_frames: str = "",
        doc_url: str = "",
    ):
        self.sample_types = list(sample_types)
        values = np.asarray(values, dtype=np.int64)
        if values.ndim != 2 or values.shape[1] != len(self.sample_types):
            # With no sample types, reshape cannot infer the sample count from -1.
            n = len(stack_offsets) - 1 if len(stack_offsets) else 0
            values = values.reshape(-1 if self.sample_types else n, len(self.sample_types))
        self.values = values
        self.stack_offsets = np.asarray(stack_offsets, dtype=np.int64)
        self.stack_locs = np.asarray(stack_locs, dtype=np.int64)
        self.loc_id = np.asarray(loc_id, dtype=np.uint64)
        self.loc_mapping = np.asarray(loc_mapping, dtype=np.int64)
        self.loc_address = np.asarray(loc_address, dtype=np.uint64)
        self.loc_folded = np.asarray(loc_folded, dtype=bool)
        self.line_offsets = np.asarray(line_offsets, dtype=np.int64)
        self.line_func = np.asarray(line_func, dtype=np.int64)
        self.line_no = np.asarray(line_no, dtype=np.int64)
        self.line_col = np.asarray(line_col, dtype=np.int64)
        self.func_id = np.asarray(func_id, dtype=np.uint64)
        self.func_name = _as_objects(func_name)
        self.func_system_name = _as_objects(func_system_name)
        self.func_filename = _as_objects(func_filename)
        self.func_start_line = np.asarray(func_start_line, dtype=np.int64)
        self.mappings = list(mappings)
        self.label_sample = np.asarray(label_sample, dtype=np.int64)
        n_labels = len(self.label_sample)
        self.label_key = _as_objects(label_key if label_key is not None else [""] * n_labels)
        self.label_str = _as_objects(label_str if label_str is not None else [None] * n_labels)
        self.label_num = np.asarray(label_num, dtype=np.int64)
        self.label_unit = _as_objects(label_unit if label_unit is not None else [""] * n_labels)
        self.default_sample_type = default_sample_type
        self.period_type = period_type
        self.period = int(period)
        self.time_nanos = int(time_nanos)
        self.duration_nanos = int(duration_nanos)
        self.comments = list(comments)
        self.drop_frames = drop_frames
        self.keep_frames = keep_frames
        self.doc_url = doc_url

    # ------------------------------------------------------------------ basics

    @property
    def n_samples(self) -> int:
        return len(self.stack_offsets) - 1

    def __len__(self) -> int:
        return self.n_samples

    def __repr__(self) -> str:
        types = ", ".join(str(t) for t in self.sample_types)
        return (
            f"<Profile {self.n_samples} samples [{types}], {len(self.loc_id)} locations, "
            f"{len(self.func_id)} functions>"
        )

    def copy(self) -> "Profile":
        return copy.deepcopy(self)

    def replace(self, **changes) -> "Profile":
        """A shallow copy with some fields replaced (arrays are shared, never mutated in place)."""
        new = copy.copy(self)
        for name, value in changes.items():
            if not hasattr(new, name):
                raise AttributeError(f"Profile has no field {name!r}")
            setattr(new, name, value)
        return new

    @property
    def stack_lengths(self) -> np.ndarray:
        return np.diff(self.stack_offsets)

    @property
    def sample_of_stack_entry(self) -> np.ndarray:
        """For each entry of ``stack_locs``, the sample it belongs to."""
        return np.repeat(np.arange(self.n_samples, dtype=np.int64), self.stack_lengths)

    def sample_type_index(self, name: str | int | None = None) -> int:
        """The value column for ``name`` (pprof's ``-sample_index``): a number, a type name,
        or None for the default (``default_sample_type``, else the last type).

        Like pprof, ``inuse_space``/``inuse_objects`` also match legacy ``space``/``objects``.
        """
        types = [t.type for t in self.sample_types]
        if not types:
            raise OptionError("the profile has no sample types, so no values to report")
        if name is None or name == "":
            if self.default_sample_type and self.default_sample_type in types:
                return types.index(self.default_sample_type)
            return len(types) - 1
        if isinstance(name, (int, np.integer)) or (isinstance(name, str) and name.isdigit()):
            index = int(name)
            if 0 <= index < len(types):
                return index
            raise OptionError(f"sample_index {index} out of range [0..{len(types) - 1}]")
        if name in types:
            return types.index(name)
        legacy = name.removeprefix("inuse_")
        if legacy != name and legacy in types:
            return types.index(legacy)
        raise OptionError(f"sample_index {name!r} must be one of: {', '.join(types)}")

    # ----------------------------------------------------------------- checks

    def validate(self) -> "Profile":
        """Check profile.proto's rules (pprof's CheckValid); raise InvalidProfileError."""
        n, k = self.values.shape
        if k != len(self.sample_types):
            raise InvalidProfileError(
                f"samples have {k} values but the profile has {len(self.sample_types)} sample types"
            )
        if not self.sample_types and n:
            raise InvalidProfileError("profile has samples but no sample types")
        if self.stack_offsets.shape != (n + 1,) or self.stack_offsets[0] != 0 or self.stack_offsets[-1] != len(self.stack_locs):
            raise InvalidProfileError("sample stacks do not match the number of samples")
        if np.any(np.diff(self.stack_offsets) < 0):
            raise InvalidProfileError("sample stack offsets go backwards")
        n_locs, n_funcs = len(self.loc_id), len(self.func_id)
        if len(self.stack_locs) and (self.stack_locs.min() < 0 or self.stack_locs.max() >= n_locs):
            raise InvalidProfileError("a sample refers to a location that does not exist")
        if len(self.line_func) and (self.line_func.min() < 0 or self.line_func.max() >= n_funcs):
            raise InvalidProfileError("a location line refers to a function that does not exist")
        for what, ids in (("location", self.loc_id), ("function", self.func_id)):
            if np.any(ids == 0):
                raise InvalidProfileError(f"a {what} has id 0")
            if len(np.unique(ids)) != len(ids):
                raise InvalidProfileError(f"two {what}s share an id")
        mapping_ids = [m.id for m in self.mappings]
        if 0 in mapping_ids or len(set(mapping_ids)) != len(mapping_ids):
            raise InvalidProfileError("mapping ids must be nonzero and unique")
        if len(self.loc_mapping) and self.loc_mapping.max() >= len(self.mappings):
            raise InvalidProfileError("a location refers to a mapping that does not exist")
        if len(self.label_sample) and (self.label_sample.min() < 0 or self.label_sample.max() >= n):
            raise InvalidProfileError("a label belongs to a sample that does not exist")
        return self

    # ------------------------------------------------------------ per-frame data

    def frames(self) -> "Frames":
        """Stacks expanded to frames (one per inline line), leaf first; see `Frames`."""
        return Frames(self)

    # ---------------------------------------------------------------- arithmetic

    def scale(self, ratio: float | Sequence[float]) -> "Profile":
        """Values multiplied by ``ratio`` (one number, or one per sample type), like pprof's
        Scale: results are rounded to integers and all-zero samples disappear."""
        ratios = np.broadcast_to(np.asarray(ratio, dtype=np.float64), (len(self.sample_types),))
        if np.all(ratios == 1):
            return self
        if np.all(ratios == np.round(ratios)):
            values = self.values * ratios.astype(np.int64)
        else:
            values = np.round(self.values * ratios).astype(np.int64)
        return self.replace(values=values).compact()

    def __neg__(self) -> "Profile":
        return self.replace(values=-self.values)

    def total(self, sample_type: str | int | None = None) -> int:
        return int(self.values[:, self.sample_type_index(sample_type)].sum())

    def totals(self) -> dict[str, int]:
        return {t.type: int(v) for t, v in zip(self.sample_types, self.values.sum(axis=0))}

    def __add__(self, other: "Profile") -> "Profile":
        return merge([self, other])

    def __sub__(self, other: "Profile") -> "Profile":
        return subtract(self, other)

    def compact(self) -> "Profile":
        """Merge samples with the same stack and labels and drop samples whose values are all
        zero, keeping first-appearance order (what pprof's Merge/Compact do)."""
        return merge([self])

    def normalize_to(self, base: "Profile") -> "Profile":
        """Scale each value column so its total equals ``base``'s (pprof's -normalize)."""
        check_compatible(self, base)
        own = np.abs(self.values).sum(axis=0).astype(np.float64)
        other = np.abs(base.values).sum(axis=0).astype(np.float64)
        ratios = np.where(own != 0, other / np.where(own == 0, 1, own), 1.0)
        return self.scale(ratios)

    # ------------------------------------------- convenience (layers above the model)

    def samples_df(self):
        return _convenience().samples_df(self)

    def frames_df(self):
        return _convenience().frames_df(self)

    def functions_df(self):
        return _convenience().functions_df(self)

    def locations_df(self):
        return _convenience().locations_df(self)

    def labels_df(self):
        return _convenience().labels_df(self)

    def report(self, kind: str = "top", **options):
        """The DataFrame of a go tool pprof report: ``prof.report("top", cum=True)``."""
        return _convenience().report(self, kind, **options)

    def top(self, **options):
        """``go tool pprof -top`` as a DataFrame (flat, flat%, sum%, cum, cum% per node).

        >>> prof.top(sample_index="alloc_space", nodecount=10)
        """
        return self.report("top", **options)

    def text(self, kind: str = "top", **options) -> str:
        """The report as go tool pprof prints it: ``print(prof.text("top", cum=True))``."""
        return _convenience().text(self, kind, **options)

    # ------------------------------------------------------------------ I/O

    def to_bytes(self, *, compress: bool = True) -> bytes:
        return _convenience().to_bytes(self, compress=compress)

    def save(self, path) -> None:
        with open(path, "wb") as fh:
            fh.write(self.to_bytes())


# The DataFrame, report and encoding methods above are served by layers that import the model,
# never the other way: `pyprofnb.facade` installs itself here when the package is imported
# (docs/ARCHITECTURE.md, "Convenience methods").
_CONVENIENCE = []


def install_convenience(provider) -> None:
    """Called once by `pyprofnb.facade`: ``provider`` has samples_df ... report, text, to_bytes."""
    _CONVENIENCE[:] = [provider]


def _convenience():
    if not _CONVENIENCE:
        # The package loads the facade on first use (pyprofnb/__init__.py: a service that
        # only serves /debug/pprof never needs it); it hands over an installer for that.
        installer = getattr(sys.modules.get("pyprofnb"), "_install_convenience", None)
        if installer is not None:
            installer()
    if not _CONVENIENCE:  # only when pyprofnb/__init__ was bypassed
        raise PprofError("Profile convenience methods need the pyprofnb package: import pyprofnb")
    return _CONVENIENCE[0]


def _as_objects(values) -> np.ndarray:
    if isinstance(values, np.ndarray) and values.dtype == object:
        return values
    return _objects(values)


class Frames:
    """A profile's stacks expanded to one row per frame, in the order pprof walks them.

    Each location contributes one frame per inline line (callee first), or one frame with
    function -1 when it has no lines. Arrays (all the same length):
    ``sample`` (sample index), ``depth`` (0 is the leaf), ``loc`` (location index),
    ``line`` (index into the line columns, -1 when none), ``func`` (function index or -1),
    ``lineno``, ``column``, ``inlined`` (an inlined call: not the last line of its location).
    ``first``/``stop`` restrict it to samples [first, stop) so large profiles can be walked
    in chunks; the arrays beyond sample/loc/line/inlined are computed when first asked for.
    """

    def __init__(self, prof: Profile, first: int = 0, stop: int | None = None):
        stop = prof.n_samples if stop is None else stop
        self._prof = prof
        self.first, self.stop = first, stop
        e0, e1 = int(prof.stack_offsets[first]), int(prof.stack_offsets[stop])
        locs = prof.stack_locs[e0:e1]
        lengths = np.diff(prof.stack_offsets[first: stop + 1])
        idx = np.int32 if max(prof.n_samples, len(prof.loc_id), len(prof.line_func)) < 2**31 - 1 else np.int64
        entry_sample = np.repeat(np.arange(first, stop, dtype=idx), lengths)
        n_lines_per_loc = np.diff(prof.line_offsets)
        if len(n_lines_per_loc) and (n_lines_per_loc == 1).all():
            # One line per location (Python's profiles, Go's without inlining): a frame per entry.
            self.sample = entry_sample
            self.loc = locs.astype(idx, copy=False)
            self.line = prof.line_offsets[:-1][locs].astype(idx, copy=False)
            self.inlined = np.zeros(len(locs), dtype=bool)
            return
        frames_per_loc = np.maximum(n_lines_per_loc, 1)
        entry_frames = frames_per_loc[locs] if len(locs) else _EMPTY_I64
        self.sample = np.repeat(entry_sample, entry_frames)
        self.loc = np.repeat(locs.astype(idx, copy=False), entry_frames)
        total = int(entry_frames.sum())
        # Position of each frame inside its location's line list.
        within = np.arange(total, dtype=idx) - np.repeat((np.cumsum(entry_frames) - entry_frames).astype(idx), entry_frames)
        loc_lines = n_lines_per_loc[self.loc] if total else _EMPTY_I64
        has_lines = loc_lines > 0
        self.line = np.where(has_lines, prof.line_offsets[self.loc] + within, -1).astype(idx, copy=False)
        self.inlined = has_lines & (within < loc_lines - 1)

    def __len__(self) -> int:
        return len(self.sample)

    def _line_column(self, column: np.ndarray, fill: int) -> np.ndarray:
        if len(column) == 0:
            return np.full(len(self.line), fill, dtype=np.int64)
        return np.where(self.line >= 0, column[np.maximum(self.line, 0)], fill)

    @functools.cached_property
    def func(self) -> np.ndarray:
        return self._line_column(self._prof.line_func, -1)

    @functools.cached_property
    def lineno(self) -> np.ndarray:
        return self._line_column(self._prof.line_no, 0)

    @functools.cached_property
    def column(self) -> np.ndarray:
        return self._line_column(self._prof.line_col, 0)

    @functools.cached_property
    def frames_per_sample(self) -> np.ndarray:
        return np.bincount(self.sample - self.first, minlength=self.stop - self.first) if len(self.sample) else np.zeros(self.stop - self.first, dtype=np.int64)

    @functools.cached_property
    def offsets(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.frames_per_sample)]).astype(np.int64)

    @functools.cached_property
    def depth(self) -> np.ndarray:
        """Position of each frame in its sample, leaf = 0."""
        if len(self.sample) == 0:
            return _EMPTY_I64
        return np.arange(len(self.sample), dtype=np.int64) - self.offsets[:-1][self.sample - self.first]


class ProfileBuilder:
    """Builds a Profile one sample at a time; used by the collectors and tests.

    >>> b = ProfileBuilder([("samples", "count"), ("cpu", "nanoseconds")],
    ...                    period_type=("cpu", "nanoseconds"), period=10_000_000)
    >>> b.add([("handler", "/app/srv.py", 12), ("main", "/app/srv.py", 40)], [1, 10_000_000],
    ...       labels={"thread": "MainThread"})
    >>> prof = b.build(duration_nanos=30 * 10**9)

    A frame is ``(name, filename, line)``, ``(name, filename, line, start_line)`` or
    ``(name, filename, line, start_line, system_name)``; stacks are leaf first. Each distinct
    frame becomes one location with one line. Numeric labels are given as
    ``num_labels={"bytes": (512, "bytes")}``.
    """

    def __init__(
        self,
        sample_types: Sequence[tuple[str, str] | ValueType],
        *,
        period_type: tuple[str, str] | ValueType | None = None,
        period: int = 0,
        default_sample_type: str = "",
        comments: Sequence[str] = (),
        mapping: Mapping | None = None,
    ):
        self.sample_types = [t if isinstance(t, ValueType) else ValueType(*t) for t in sample_types]
        self.period_type = (
            period_type if isinstance(period_type, ValueType) or period_type is None else ValueType(*period_type)
        )
        self.period = period
        self.default_sample_type = default_sample_type
        self.comments = list(comments)
        self.mapping = mapping
        self._funcs: dict[tuple, int] = {}
        self._locs: dict[tuple, int] = {}
        self._loc_func: list[int] = []
        self._loc_line: list[int] = []
        self._values: list[Sequence[int]] = []
        self._stacks: list[int] = []
        self._offsets: list[int] = [0]
        self._labels: list[tuple] = []

    def _function(self, name: str, filename: str, start_line: int, system_name: str) -> int:
        key = (name, system_name, filename, start_line)
        index = self._funcs.get(key)
        if index is None:
            index = self._funcs[key] = len(self._funcs)
        return index

    def location(self, frame: tuple) -> int:
        name, filename, line, *rest = frame
        start_line = rest[0] if rest else 0
        system_name = rest[1] if len(rest) > 1 else name
        if system_name == name and ("<" in name or "(" in name):
            # go tool pprof "demangles" a function whose system name equals its name, and its
            # C++ heuristics strip <...> and (...): Python's <module>, <lambda>, <genexpr>
            # would print as <unknown>. A distinct system name keeps the name as it is.
            system_name = f"{filename.rsplit('/', 1)[-1]}:{name}"
        key = (name, filename, line, start_line, system_name)
        index = self._locs.get(key)
        if index is None:
            index = self._locs[key] = len(self._locs)
            self._loc_func.append(self._function(name, filename, start_line, system_name))
            self._loc_line.append(int(line))
        return index

    def add(self, frames: Iterable[tuple], values: Sequence[int], *, labels=None, num_labels=None) -> None:
        if len(values) != len(self.sample_types):
            raise InvalidProfileError(
                f"a sample needs {len(self.sample_types)} values ({', '.join(map(str, self.sample_types))}), got {len(values)}"
            )
        sample = len(self._values)
        self._stacks.extend(self.location(f) for f in frames)
        self._offsets.append(len(self._stacks))
        self._values.append(values)
        for key, value in (labels or {}).items():
            self._labels.append((sample, key, str(value), 0, ""))
        for key, (num, unit) in (num_labels or {}).items():
            self._labels.append((sample, key, None, int(num), unit or ""))

    def build(self, *, time_nanos: int = 0, duration_nanos: int = 0) -> Profile:
        funcs = sorted(self._funcs.items(), key=lambda kv: kv[1])
        n_locs = len(self._loc_func)
        labels = list(zip(*self._labels)) if self._labels else [[], [], [], [], []]
        has_mapping = self.mapping is not None
        return Profile(
            sample_types=self.sample_types,
            values=np.array(self._values, dtype=np.int64).reshape(-1, len(self.sample_types)),
            stack_offsets=np.array(self._offsets, dtype=np.int64),
            stack_locs=np.array(self._stacks, dtype=np.int64),
            loc_id=np.arange(1, n_locs + 1, dtype=np.uint64),
            loc_mapping=np.full(n_locs, 0 if has_mapping else -1, dtype=np.int64),
            loc_address=np.zeros(n_locs, dtype=np.uint64),
            loc_folded=np.zeros(n_locs, dtype=bool),
            line_offsets=np.arange(n_locs + 1, dtype=np.int64),
            line_func=np.array(self._loc_func, dtype=np.int64),
            line_no=np.array(self._loc_line, dtype=np.int64),
            line_col=np.zeros(n_locs, dtype=np.int64),
            func_id=np.arange(1, len(funcs) + 1, dtype=np.uint64),
            func_name=[k[0] for k, _ in funcs],
            func_system_name=[k[1] for k, _ in funcs],
            func_filename=[k[2] for k, _ in funcs],
            func_start_line=[k[3] for k, _ in funcs],
            mappings=[self.mapping] if has_mapping else [],
            label_sample=np.array(labels[0], dtype=np.int64),
            label_key=_objects(labels[1]),
            label_str=_objects(labels[2]),
            label_num=np.array(labels[3], dtype=np.int64),
            label_unit=_objects(labels[4]),
            default_sample_type=self.default_sample_type,
            period_type=self.period_type,
            period=self.period,
            time_nanos=time_nanos,
            duration_nanos=duration_nanos,
            comments=self.comments,
        )


# ------------------------------------------------------------------ merging

_UNIT_SCALES = {
    "nanoseconds": 1, "microseconds": 1_000, "milliseconds": 1_000_000, "seconds": 1_000_000_000,
    "bytes": 1, "kilobytes": 1024, "megabytes": 1024**2, "gigabytes": 1024**3,
}


def check_compatible(a: Profile, b: Profile) -> None:
    """Raise IncompatibleProfilesError unless a and b have the same sample and period types."""
    if [str(t) for t in a.sample_types] != [str(t) for t in b.sample_types]:
        raise IncompatibleProfilesError(
            "profiles have different sample types: "
            f"[{', '.join(map(str, a.sample_types))}] and [{', '.join(map(str, b.sample_types))}]"
        )
    if a.period_type and b.period_type and a.period_type != b.period_type:
        raise IncompatibleProfilesError(
            f"profiles have different period types: {a.period_type} and {b.period_type}"
        )


def common_sample_types(profiles: Sequence[Profile]) -> list[Profile]:
    """Keep only the sample types every profile has, like pprof does before merging."""
    if len(profiles) < 2:
        return list(profiles)
    common = [t.type for t in profiles[0].sample_types]
    for p in profiles[1:]:
        names = {t.type for t in p.sample_types}
        common = [t for t in common if t in names]
    if not common:
        raise IncompatibleProfilesError(
            "profiles have no sample type in common: "
            + "; ".join("[" + ", ".join(map(str, p.sample_types)) + "]" for p in profiles)
        )
    out = []
    units = {t.type: t.unit for t in profiles[0].sample_types}
    for p in profiles:
        cols = [[t.type for t in p.sample_types].index(name) for name in common]
        values = p.values[:, cols]
        types = []
        for name, col in zip(common, cols):
            unit = p.sample_types[col].unit
            want = units[name]
            if unit != want:
                if unit in _UNIT_SCALES and want in _UNIT_SCALES:
                    values = values.copy()
                    values[:, len(types)] = values[:, len(types)] * _UNIT_SCALES[unit] // _UNIT_SCALES[want]
                else:
                    raise IncompatibleProfilesError(
                        f"sample type {name!r} is in {unit} in one profile and in {want} in another"
                    )
            types.append(ValueType(name, want))
        if cols == list(range(len(p.sample_types))) and types == p.sample_types:
            out.append(p)
        else:
            default = p.default_sample_type if p.default_sample_type in common else ""
            out.append(p.replace(values=values, sample_types=types, default_sample_type=default))
    return out


def _hash_columns(columns: Sequence[np.ndarray]) -> np.ndarray:
    """A 64-bit hash per row of several equal-length integer columns."""
    h = np.full(len(columns[0]) if columns else 0, 0x9E3779B97F4A7C15, dtype=np.uint64)
    for col in columns:
        h = (h ^ col.astype(np.uint64)) * np.uint64(0x100000001B3)
        h ^= h >> np.uint64(29)
    return h


def _segment_hash(values: np.ndarray, offsets: np.ndarray, seed: int) -> np.ndarray:
    """One 64-bit hash per CSR segment of ``values`` (order-sensitive)."""
    n = len(offsets) - 1
    if len(values) == 0:
        return np.zeros(n, dtype=np.uint64)
    lengths = np.diff(offsets)
    pos = np.arange(len(values), dtype=np.int64) - np.repeat(offsets[:-1], lengths)
    with np.errstate(over="ignore"):
        mult = (np.uint64(seed) * (pos.astype(np.uint64) + np.uint64(1))) | np.uint64(1)
        mixed = (values.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)) * mult
        mixed ^= mixed >> np.uint64(31)
        mixed *= np.uint64(0xBF58476D1CE4E5B9)
        out = np.zeros(n, dtype=np.uint64)
        nonempty = lengths > 0
        if nonempty.any():
            out[nonempty] = np.add.reduceat(mixed, offsets[:-1][nonempty])
    return out


def merge(profiles: Sequence[Profile]) -> Profile:
    """Merge profiles of the same kind, like pprof's Merge: functions and locations that are
    the same are unified, samples with the same stack and labels add their values, and
    all-zero samples disappear. Time is the earliest, duration the sum, period the largest."""
    if not profiles:
        raise OptionError("merge needs at least one profile")
    profiles = common_sample_types(list(profiles))
    first = profiles[0]
    for p in profiles[1:]:
        check_compatible(first, p)

    # Mappings, keyed by what they map.
    mappings: list[Mapping] = []
    mapping_index: dict[tuple, int] = {}
    mapping_remaps = []
    for p in profiles:
        remap = np.empty(len(p.mappings) + 1, dtype=np.int64)
        remap[-1] = -1  # index -1 (no mapping) stays -1
        for i, m in enumerate(p.mappings):
            key = m.key()
            if key not in mapping_index:
                mapping_index[key] = len(mappings)
                mappings.append(dataclasses.replace(m, id=len(mappings) + 1))
            remap[i] = mapping_index[key]
        mapping_remaps.append(remap)

    # Functions keyed by their four fields.
    func_keys = []
    for p in profiles:
        func_keys.extend(zip(p.func_name, p.func_system_name, p.func_filename, p.func_start_line.tolist()))
    func_codes, func_uniques = _factorize_tuples(func_keys)
    func_offsets = np.cumsum([0] + [len(p.func_id) for p in profiles])

    # Locations keyed by mapping, address, folded and their lines.
    all_loc_keys = []
    line_func_all, line_no_all, line_col_all = [], [], []
    loc_mapping_all, loc_address_all, loc_folded_all = [], [], []
    for pi, p in enumerate(profiles):
        new_funcs = func_codes[func_offsets[pi]: func_offsets[pi + 1]]
        lf = new_funcs[p.line_func] if len(p.line_func) else p.line_func
        lines_key = _segment_hash(lf * 1_000_003 + p.line_no * 31 + p.line_col, p.line_offsets, 0x51ED27)
        lm = mapping_remaps[pi][p.loc_mapping]
        all_loc_keys.append(_hash_columns([lm, p.loc_address, p.loc_folded.astype(np.uint64), lines_key, np.diff(p.line_offsets)]))
        loc_mapping_all.append(lm)
        loc_address_all.append(p.loc_address)
        loc_folded_all.append(p.loc_folded)
        line_func_all.append(lf)
        line_no_all.append(p.line_no)
        line_col_all.append(p.line_col)
    loc_keys = np.concatenate(all_loc_keys) if all_loc_keys else np.zeros(0, np.uint64)
    loc_codes, first_index = _factorize_u64(loc_keys)
    # Gather the unique locations' columns from the concatenated per-profile columns.
    cat_line_func = np.concatenate(line_func_all)
    cat_line_no = np.concatenate(line_no_all)
    cat_line_col = np.concatenate(line_col_all)
    line_bases = np.cumsum([0] + [len(p.line_func) for p in profiles])
    cat_line_offsets = np.concatenate(
        [p.line_offsets[:-1] + line_bases[i] for i, p in enumerate(profiles)] + [[line_bases[-1]]]
    ).astype(np.int64)
    cat_line_counts = np.diff(cat_line_offsets)
    keep_counts = cat_line_counts[first_index]
    take = _ranges(cat_line_offsets[first_index], keep_counts)
    loc_offsets = np.concatenate([[0], np.cumsum(keep_counts)]).astype(np.int64)

    loc_bases = np.cumsum([0] + [len(p.loc_id) for p in profiles])
    stacks = np.concatenate([loc_codes[p.stack_locs + loc_bases[i]] for i, p in enumerate(profiles)])
    sample_bases = np.cumsum([0] + [p.n_samples for p in profiles])
    stack_bases = np.cumsum([0] + [len(p.stack_locs) for p in profiles])
    stack_offsets = np.concatenate(
        [p.stack_offsets[:-1] + stack_bases[i] for i, p in enumerate(profiles)] + [[len(stacks)]]
    ).astype(np.int64)
    values = np.concatenate([p.values for p in profiles])
    label_sample = np.concatenate([p.label_sample + sample_bases[i] for i, p in enumerate(profiles)])
    label_key = np.concatenate([p.label_key for p in profiles])
    label_str = np.concatenate([p.label_str for p in profiles])
    label_num = np.concatenate([p.label_num for p in profiles])
    label_unit = np.concatenate([p.label_unit for p in profiles])

    merged = Profile(
        sample_types=first.sample_types,
        values=values,
        stack_offsets=stack_offsets,
        stack_locs=stacks,
        loc_id=np.arange(1, len(first_index) + 1, dtype=np.uint64),
        loc_mapping=np.concatenate(loc_mapping_all)[first_index],
        loc_address=np.concatenate(loc_address_all)[first_index],
        loc_folded=np.concatenate(loc_folded_all)[first_index],
        line_offsets=loc_offsets,
        line_func=cat_line_func[take],
        line_no=cat_line_no[take],
        line_col=cat_line_col[take],
        func_id=np.arange(1, len(func_uniques) + 1, dtype=np.uint64),
        func_name=[f[0] for f in func_uniques],
        func_system_name=[f[1] for f in func_uniques],
        func_filename=[f[2] for f in func_uniques],
        func_start_line=[f[3] for f in func_uniques],
        mappings=mappings,
        label_sample=label_sample,
        label_key=label_key,
        label_str=label_str,
        label_num=label_num,
        label_unit=label_unit,
        default_sample_type=next((p.default_sample_type for p in profiles if p.default_sample_type), ""),
        period_type=first.period_type,
        period=max(p.period for p in profiles),
        time_nanos=min((p.time_nanos for p in profiles if p.time_nanos), default=0),
        duration_nanos=sum(p.duration_nanos for p in profiles),
        comments=list(dict.fromkeys(c for p in profiles for c in p.comments)),
        drop_frames=first.drop_frames,
        keep_frames=first.keep_frames,
        doc_url=next((p.doc_url for p in profiles if p.doc_url), ""),
    )
    return _combine_samples(merged)


def _ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Concatenated ``arange(s, s + c)`` for each pair, without a Python loop."""
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    seg_start = np.cumsum(counts) - counts
    return np.repeat(starts - seg_start, counts) + np.arange(total, dtype=np.int64)


def _factorize_u64(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes in first-appearance order, and the first index of each code."""
    import pandas as pd

    codes, uniques = pd.factorize(keys, sort=False)
    first = np.full(len(uniques), len(keys), dtype=np.int64)
    np.minimum.at(first, codes, np.arange(len(keys), dtype=np.int64))
    return codes.astype(np.int64), first


def _factorize_tuples(keys: list[tuple]) -> tuple[np.ndarray, list[tuple]]:
    index: dict[tuple, int] = {}
    codes = np.fromiter((index.setdefault(k, len(index)) for k in keys), dtype=np.int64, count=len(keys))
    return codes, list(index)


def label_signature(prof: Profile) -> np.ndarray:
    """A 64-bit hash per sample of its set of labels (order-insensitive)."""
    out = np.zeros(prof.n_samples, dtype=np.uint64)
    if len(prof.label_sample) == 0:
        return out
    # Hash the strings themselves (not per-profile codes) so merged profiles agree.
    key_h = _string_hashes(prof.label_key)
    str_h = _string_hashes(prof.label_str)
    unit_h = _string_hashes(prof.label_unit)
    h = _hash_columns([key_h, str_h, prof.label_num.astype(np.uint64), unit_h])
    np.add.at(out, prof.label_sample, h)
    return out


def _string_hashes(values: np.ndarray) -> np.ndarray:
    import pandas as pd

    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    table = np.fromiter(
        (hash(("pyprofnb", u)) & 0xFFFFFFFFFFFFFFFF for u in uniques), dtype=np.uint64, count=len(uniques)
    )
    return table[codes] if len(codes) else np.zeros(0, dtype=np.uint64)


def _combine_samples(prof: Profile) -> Profile:
    """Sum samples with identical stacks and labels; drop all-zero ones. First order kept."""
    n = prof.n_samples
    if n == 0:
        return prof
    stack_h = _segment_hash(prof.stack_locs, prof.stack_offsets, 0x2545F4914F6CDD1D)
    key = _hash_columns([stack_h, prof.stack_lengths.astype(np.uint64), label_signature(prof)])
    codes, first = _factorize_u64(key)
    if len(first) == n:
        keep = np.flatnonzero(np.any(prof.values != 0, axis=1))
        if len(keep) == n:
            return prof
        return take_samples(prof, keep)
    summed = np.zeros((len(first), prof.values.shape[1]), dtype=np.int64)
    np.add.at(summed, codes, prof.values)
    result = take_samples(prof, first)
    result.values = summed
    keep = np.flatnonzero(np.any(summed != 0, axis=1))
    if len(keep) != len(first):
        result = take_samples(result, keep)
    return result


def take_samples(prof: Profile, index: np.ndarray) -> Profile:
    """A profile with only the samples at ``index`` (in that order); tables are shared."""
    index = np.asarray(index, dtype=np.int64)
    lengths = prof.stack_lengths[index]
    stacks = prof.stack_locs[_ranges(prof.stack_offsets[:-1][index], lengths)]
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    new_pos = np.full(prof.n_samples, -1, dtype=np.int64)
    new_pos[index] = np.arange(len(index), dtype=np.int64)
    kept = new_pos[prof.label_sample] >= 0 if len(prof.label_sample) else np.zeros(0, dtype=bool)
    label_order = np.argsort(new_pos[prof.label_sample][kept], kind="stable") if kept.any() else np.zeros(0, np.int64)
    sel = np.flatnonzero(kept)[label_order]
    return prof.replace(
        values=prof.values[index],
        stack_offsets=offsets,
        stack_locs=stacks,
        label_sample=new_pos[prof.label_sample[sel]],
        label_key=prof.label_key[sel],
        label_str=prof.label_str[sel],
        label_num=prof.label_num[sel],
        label_unit=prof.label_unit[sel],
    )


def add_label(prof: Profile, key: str, value: str) -> Profile:
    """Every sample gets the string label key=value (how -diff_base marks base samples)."""
    n = prof.n_samples
    return prof.replace(
        label_sample=np.concatenate([prof.label_sample, np.arange(n, dtype=np.int64)]),
        label_key=np.concatenate([prof.label_key, _objects([key] * n)]),
        label_str=np.concatenate([prof.label_str, _objects([value] * n)]),
        label_num=np.concatenate([prof.label_num, np.zeros(n, dtype=np.int64)]),
        label_unit=np.concatenate([prof.label_unit, _objects([""] * n)]),
    )


def subtract(source: Profile, base: Profile, *, normalize: bool = False) -> Profile:
    """``source - base`` as ``-base`` does it: identical stacks cancel."""
    if normalize:
        source = source.normalize_to(base)
    return merge([source, -base])


def diff(source: Profile, base: Profile, *, normalize: bool = False) -> Profile:
    """``-diff_base``: base samples are negated and labelled ``pprof::base=true`` so they stay
    apart from the source's; reports then use the base total for percentages."""
    if normalize:
        source = source.normalize_to(base)
    return merge([source, add_label(-base, "pprof::base", "true")])


def heap_unsample_weight(size: np.ndarray | float, rate: int) -> np.ndarray | float:
    """Horvitz-Thompson weight 1/(1-e^(-size/rate)) of a sampled allocation of ``size`` bytes."""
    if rate <= 1:
        return np.ones_like(size, dtype=np.float64) if isinstance(size, np.ndarray) else 1.0
    return 1.0 / -np.expm1(-np.asarray(size, dtype=np.float64) / rate) if isinstance(size, np.ndarray) else 1.0 / -math.expm1(-size / rate)
