"""Sample and frame filters: focus, ignore, hide, show, show_from, prune_from, tagfocus,
tagignore, tagshow, taghide — with go tool pprof's semantics (profile/filter.go, prune.go,
driver_focus.go), on whole columns.

Each filter is a function of (profile, pattern) returning a new Profile and whether the
pattern matched anything; `pyprofnb.options.apply_filters` turns option strings into compiled
regexps and runs them in pprof's order.
"""
from __future__ import annotations

import re

import numpy as np

from ..errors import OptionError
from .regexp import compile_pattern
from .profile import Profile, take_samples


def compile_regex(name: str, pattern: str):
    """Compile a user regexp with go tool pprof's semantics (RE2: linear time, Go's syntax);
    see `pyprofnb.model.regexp`."""
    return compile_pattern(name, pattern)


# ------------------------------------------------------------- building blocks

def _function_matches(prof: Profile, rx: re.Pattern) -> np.ndarray:
    """Per function: its name or filename matches."""
    return np.fromiter(
        (bool(rx.search(n) or rx.search(f)) for n, f in zip(prof.func_name, prof.func_filename)),
        dtype=bool, count=len(prof.func_name),
    )


def _mapping_matches(prof: Profile, rx: re.Pattern) -> np.ndarray:
    """Per location: its mapping's file matches."""
    per_mapping = np.array([bool(m.filename and rx.search(m.filename)) for m in prof.mappings] + [False], dtype=bool)
    return per_mapping[prof.loc_mapping]  # index -1 picks the trailing False


def _line_matches(prof: Profile, rx: re.Pattern) -> np.ndarray:
    if len(prof.line_func) == 0:
        return np.zeros(0, dtype=bool)
    return _function_matches(prof, rx)[prof.line_func]


def _any_per_location(prof: Profile, per_line: np.ndarray) -> np.ndarray:
    counts = np.diff(prof.line_offsets)
    loc_of_line = np.repeat(np.arange(len(counts)), counts)
    return np.bincount(loc_of_line, weights=per_line.astype(np.float64), minlength=len(counts)) > 0


def with_lines(prof: Profile, keep_line: np.ndarray) -> Profile:
    """The profile with only the location lines where ``keep_line`` is true."""
    if keep_line.all():
        return prof
    counts = np.diff(prof.line_offsets)
    loc_of_line = np.repeat(np.arange(len(counts)), counts)
    kept_counts = np.bincount(loc_of_line[keep_line], minlength=len(counts))
    return prof.replace(
        line_offsets=np.concatenate([[0], np.cumsum(kept_counts)]).astype(np.int64),
        line_func=prof.line_func[keep_line],
        line_no=prof.line_no[keep_line],
        line_col=prof.line_col[keep_line],
    )


def with_stack_entries(prof: Profile, keep_entry: np.ndarray, *, drop_empty: bool = True) -> Profile:
    """The profile with only the stack entries where ``keep_entry`` is true; samples left with
    no frames are dropped when ``drop_empty``."""
    entry_sample = prof.sample_of_stack_entry
    counts = np.bincount(entry_sample[keep_entry], minlength=prof.n_samples)
    new = prof.replace(
        stack_locs=prof.stack_locs[keep_entry],
        stack_offsets=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
    )
    if drop_empty and np.any(counts == 0):
        new = take_samples(new, np.flatnonzero(counts > 0))
    return new


def _per_sample_any(prof: Profile, entry_flag: np.ndarray) -> np.ndarray:
    return np.bincount(prof.sample_of_stack_entry, weights=entry_flag.astype(np.float64), minlength=prof.n_samples) > 0


def _entry_position(prof: Profile) -> np.ndarray:
    """Position of each stack entry inside its sample (0 = leaf)."""
    lengths = prof.stack_lengths
    return np.arange(len(prof.stack_locs), dtype=np.int64) - np.repeat(prof.stack_offsets[:-1], lengths)


# ------------------------------------------------------------------ filters

def filter_by_name(prof: Profile, focus=None, ignore=None, hide=None, show=None) -> tuple[Profile, dict[str, bool]]:
    """pprof's FilterSamplesByName: keep samples through a focus location and no ignored one,
    remove hidden lines (hide) or keep only shown lines (show). Always drops empty samples."""
    if focus is None and ignore is None and hide is None and show is None:
        # Nothing to match: only the empty samples go (no pass over every stack entry).
        empty = prof.stack_lengths == 0
        return (take_samples(prof, np.flatnonzero(~empty)) if empty.any() else prof), {}
    n_locs = len(prof.loc_id)
    matched = {}
    ignored = np.zeros(n_locs, dtype=bool)
    if ignore is not None:
        ignored = _any_per_location(prof, _line_matches(prof, ignore)) | _mapping_matches(prof, ignore)
        matched["ignore"] = bool(ignored.any())
    if focus is not None:
        focused = (_any_per_location(prof, _line_matches(prof, focus)) | _mapping_matches(prof, focus)) & ~ignored
        matched["focus"] = bool(focused.any())
    else:
        focused = ~ignored
    hidden = np.zeros(n_locs, dtype=bool)
    keep_line = np.ones(len(prof.line_func), dtype=bool)
    if hide is not None:
        line_hit = _line_matches(prof, hide)
        map_hit = _mapping_matches(prof, hide)
        hit_loc = _any_per_location(prof, line_hit) | map_hit
        matched["hide"] = bool(hit_loc.any())
        counts = np.diff(prof.line_offsets)
        loc_of_line = np.repeat(np.arange(n_locs), counts)
        # A hit location keeps its unmatched lines (none when its mapping matched).
        drop = line_hit | map_hit[loc_of_line]
        keep_line &= ~(drop & hit_loc[loc_of_line])
        remaining = np.bincount(loc_of_line[keep_line], minlength=n_locs)
        hidden |= hit_loc & (remaining == 0)
    if show is not None:
        counts = np.diff(prof.line_offsets)
        loc_of_line = np.repeat(np.arange(n_locs), counts)
        shown = _line_matches(prof, show) | _mapping_matches(prof, show)[loc_of_line]
        keep_line &= shown
        remaining = np.bincount(loc_of_line[keep_line], minlength=n_locs)
        hidden |= remaining == 0
        matched["show"] = bool((remaining > 0).any())
    prof = with_lines(prof, keep_line)
    entry_focus = focused[prof.stack_locs]
    entry_ignore = ignored[prof.stack_locs]
    keep_sample = _per_sample_any(prof, entry_focus) & ~_per_sample_any(prof, entry_ignore)
    if not keep_sample.all():
        prof = take_samples(prof, np.flatnonzero(keep_sample))
    if hidden.any():
        prof = with_stack_entries(prof, ~hidden[prof.stack_locs])
    return prof, matched


def show_from(prof: Profile, rx: re.Pattern) -> tuple[Profile, bool]:
    """Cut every stack above (rootward of) its highest matching frame; drop samples with none."""
    line_hit = _line_matches(prof, rx)
    map_hit = _mapping_matches(prof, rx)
    counts = np.diff(prof.line_offsets)
    n_locs = len(counts)
    loc_of_line = np.repeat(np.arange(n_locs), counts)
    # lastMatchedLineIndex: the outermost matching line; keep lines [0..i].
    within = np.arange(len(line_hit)) - np.repeat(prof.line_offsets[:-1], counts)
    last_hit = np.full(n_locs, -1, dtype=np.int64)
    if line_hit.any():
        np.maximum.at(last_hit, loc_of_line[line_hit], within[line_hit])
    loc_hit = map_hit | (last_hit >= 0)
    keep_line = np.ones(len(line_hit), dtype=bool)
    trim = ~map_hit & (last_hit >= 0)
    keep_line &= ~(trim[loc_of_line] & (within > last_hit[loc_of_line]))
    prof = with_lines(prof, keep_line)
    entry_hit = loc_hit[prof.stack_locs]
    pos = _entry_position(prof)
    highest = np.full(prof.n_samples, -1, dtype=np.int64)
    if entry_hit.any():
        np.maximum.at(highest, prof.sample_of_stack_entry[entry_hit], pos[entry_hit])
    keep_sample = highest >= 0
    prof = with_stack_entries(prof, pos <= highest[prof.sample_of_stack_entry], drop_empty=False)
    return take_samples(prof, np.flatnonzero(keep_sample)), bool(loc_hit.any())


def _simplify_func(name: str) -> str:
    """pprof's simplifyFunc: drop argument lists, keeping (anonymous namespace) and operator()."""
    out = re.sub(r"\((?!anonymous namespace\))(?<!operator\()[^()]*\)", "", name)
    return out


def prune_from(prof: Profile, rx: re.Pattern) -> Profile:
    """Drop frames below (leafward of) the first matching frame of each stack."""
    counts = np.diff(prof.line_offsets)
    n_locs = len(counts)
    names = [_simplify_func(n) if n else "" for n in prof.func_name]
    func_hit = np.array([bool(n) and bool(rx.search(n)) for n in names] or [False], dtype=bool)[: len(names)]
    line_hit = func_hit[prof.line_func] if len(prof.line_func) else np.zeros(0, dtype=bool)
    loc_of_line = np.repeat(np.arange(n_locs), counts)
    within = np.arange(len(line_hit)) - np.repeat(prof.line_offsets[:-1], counts)
    first_hit = np.full(n_locs, np.iinfo(np.int64).max, dtype=np.int64)
    if line_hit.any():
        np.minimum.at(first_hit, loc_of_line[line_hit], within[line_hit])
    loc_hit = first_hit != np.iinfo(np.int64).max
    # A matching location keeps its lines from the match outwards (loc.Line[i:]).
    prof = with_lines(prof, ~(loc_hit[loc_of_line] & (within < first_hit[loc_of_line])))
    entry_hit = loc_hit[prof.stack_locs]
    pos = _entry_position(prof)
    lowest = np.full(prof.n_samples, np.iinfo(np.int64).max, dtype=np.int64)
    if entry_hit.any():
        np.minimum.at(lowest, prof.sample_of_stack_entry[entry_hit], pos[entry_hit])
    return with_stack_entries(prof, pos >= np.where(lowest == np.iinfo(np.int64).max, 0, lowest)[prof.sample_of_stack_entry], drop_empty=False)


# ------------------------------------------------------------------ tag filters

_RANGE = re.compile(r"([+-]?\d+)([A-Za-z]+)?")


def _parse_range(value: str):
    """pprof's parseTagFilterRange: ``32kb``, ``1kb:10kb``, ``:1mb``, ``64:``."""
    from ..units import scale

    def parse(part):
        m = _RANGE.fullmatch(part)
        if not m:
            return None
        return int(m.group(1)), m.group(2) or ""

    def in_unit(number, unit, target_unit):
        v, _ = scale(number, unit, target_unit)
        return v

    if ":" not in value:
        single = parse(value)
        if single is None:
            return None
        number, unit = single

        def match(v, vunit):
            return in_unit(v, vunit or unit, unit or vunit) == number if unit else v == number

        return match
    lo_s, hi_s = value.split(":", 1)
    lo = parse(lo_s) if lo_s else None
    hi = parse(hi_s) if hi_s else None
    if (lo_s and lo is None) or (hi_s and hi is None) or (lo is None and hi is None):
        return None

    def match(v, vunit):
        if lo is not None and in_unit(v, vunit, lo[1] or vunit) < lo[0]:
            return False
        if hi is not None and in_unit(v, vunit, hi[1] or vunit) > hi[0]:
            return False
        return True

    return match


def _tag_matcher(name: str, value: str):
    """A function from a profile to a per-sample boolean mask, for tagfocus/tagignore."""
    want_key = ""
    if "=" in value:
        want_key, value = value.split("=", 1)
    numeric = _parse_range(value)
    if numeric is not None:
        def mask(prof: Profile) -> np.ndarray:
            is_num = np.array([s is None for s in prof.label_str], dtype=bool)
            if want_key:
                is_num &= prof.label_key == want_key
            units = label_units(prof)
            hit = np.array(
                [numeric(int(v), units.get(k, k)) if ok else False for v, k, ok in zip(prof.label_num, prof.label_key, is_num)],
                dtype=bool,
            )
            return np.bincount(prof.label_sample[hit], minlength=prof.n_samples) > 0

        return mask
    patterns = [compile_regex(name, p) for p in value.split(",")]

    def mask(prof: Profile) -> np.ndarray:
        is_str = np.array([s is not None for s in prof.label_str], dtype=bool)
        result = np.ones(prof.n_samples, dtype=bool)
        for rx in patterns:
            if want_key:
                hit = is_str & (prof.label_key == want_key) & np.array(
                    [bool(s is not None and rx.search(s)) for s in prof.label_str], dtype=bool)
            else:
                hit = is_str & np.array(
                    [bool(s is not None and rx.search(f"{k}:{s}")) for k, s in zip(prof.label_key, prof.label_str)], dtype=bool)
            per_sample = np.bincount(prof.label_sample[hit], minlength=prof.n_samples) > 0
            if want_key:
                result &= per_sample
            else:
                # Without a key, a sample matches when any regexp matches some label.
                result = per_sample if rx is patterns[0] else (result | per_sample)
        return result

    return mask


def label_units(prof: Profile) -> dict[str, str]:
    """pprof's NumLabelUnits: the unit of each numeric label key (key name when none;
    ``request`` and ``alignment`` are bytes)."""
    units: dict[str, str] = {}
    for key, unit, s in zip(prof.label_key, prof.label_unit, prof.label_str):
        if s is None and unit and key not in units:
            units[key] = unit
    for key, s in zip(prof.label_key, prof.label_str):
        if s is None and key not in units:
            units[key] = "bytes" if key in ("request", "alignment") else key
    return units


def filter_by_tag(prof: Profile, focus: str = "", ignore: str = "") -> tuple[Profile, dict[str, bool]]:
    keep = np.ones(prof.n_samples, dtype=bool)
    matched = {}
    if focus:
        hit = _tag_matcher("tagfocus", focus)(prof)
        matched["tagfocus"] = bool(hit.any())
        keep &= hit
    if ignore:
        hit = _tag_matcher("tagignore", ignore)(prof)
        matched["tagignore"] = bool(hit.any())
        keep &= ~hit
    if keep.all():
        return prof, matched
    return take_samples(prof, np.flatnonzero(keep)), matched


def filter_tags_by_name(prof: Profile, show: re.Pattern | None, hide: re.Pattern | None) -> Profile:
    if show is None and hide is None or len(prof.label_key) == 0:
        return prof
    keys = prof.label_key
    remove = np.array(
        [(show is not None and not show.search(k)) or (hide is not None and bool(hide.search(k))) for k in keys],
        dtype=bool,
    )
    keep = ~remove
    return prof.replace(
        label_sample=prof.label_sample[keep], label_key=prof.label_key[keep], label_str=prof.label_str[keep],
        label_num=prof.label_num[keep], label_unit=prof.label_unit[keep],
    )


__all__ = ["compile_regex", "filter_by_name", "filter_by_tag", "label_units", "prune_from", "show_from", "with_lines", "with_stack_entries"]


def remove_uninteresting(prof: Profile) -> Profile:
    """Apply the profile's own ``drop_frames``/``keep_frames`` (pprof does this at load time,
    unless -all_frames): a frame matching drop (and not keep) is removed with everything it
    called, unless no frame rootward of it is kept."""
    if not prof.drop_frames:
        return prof
    drop = compile_pattern("drop_frames", f"^({prof.drop_frames})$")
    keep = compile_pattern("keep_frames", f"^({prof.keep_frames})$") if prof.keep_frames else None
    names = [_simplify_func(n) if n else "" for n in prof.func_name]
    func_hit = np.array([bool(n) and bool(drop.fullmatch(n)) and not (keep and keep.fullmatch(n)) for n in names],
                        dtype=bool)
    counts = np.diff(prof.line_offsets)
    n_locs = len(counts)
    line_hit = func_hit[prof.line_func] if len(prof.line_func) else np.zeros(0, dtype=bool)
    loc_of_line = np.repeat(np.arange(n_locs), counts)
    within = np.arange(len(line_hit)) - np.repeat(prof.line_offsets[:-1], counts)
    # The outermost matching line of each location.
    last_hit = np.full(n_locs, -1, dtype=np.int64)
    if line_hit.any():
        np.maximum.at(last_hit, loc_of_line[line_hit], within[line_hit])
    beneath = last_hit >= 0
    whole = beneath & (last_hit == counts - 1)
    # A partly matching location keeps the lines outside (callers of) the match.
    prof = with_lines(prof, ~((beneath & ~whole)[loc_of_line] & (within <= last_hit[loc_of_line])))
    flagged = beneath[prof.stack_locs]
    user = ~flagged
    entry_sample = prof.sample_of_stack_entry
    pos = _entry_position(prof)
    users_upto = np.cumsum(user) - np.repeat(np.cumsum(user)[prof.stack_offsets[:-1] - 1] * (prof.stack_offsets[:-1] > 0)
                                               if len(user) else np.zeros(0, np.int64), prof.stack_lengths)
    users_total = np.bincount(entry_sample[user], minlength=prof.n_samples)
    candidate = flagged & (users_total[entry_sample] - users_upto > 0)
    cut = np.full(prof.n_samples, -1, dtype=np.int64)
    if candidate.any():
        np.maximum.at(cut, entry_sample[candidate], pos[candidate])
    cut_entry = prof.stack_offsets[:-1] + np.maximum(cut, 0)
    cut_whole = np.where(cut >= 0, whole[prof.stack_locs[np.minimum(cut_entry, max(len(prof.stack_locs) - 1, 0))]]
                         if len(prof.stack_locs) else False, False)
    first_kept = np.where(cut < 0, 0, cut + cut_whole)
    return with_stack_entries(prof, pos >= first_kept[entry_sample], drop_empty=False)
