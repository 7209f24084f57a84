"""Tidy DataFrame views of a Profile: samples, frames, functions, locations, labels.

>>> prof.samples_df().nlargest(5, "alloc_space")
>>> frames = prof.frames_df(); frames[frames.function.str.contains("json")]
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..model.profile import Profile


def _categorical(values: np.ndarray) -> pd.Categorical:
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    return pd.Categorical.from_codes(codes, categories=pd.Index(uniques, dtype=object).astype(str)) if len(uniques) else pd.Categorical([None] * len(values))


def samples_frame(prof: Profile) -> pd.DataFrame:
    """One row per sample: a column per sample type, the leaf function, stack depth and one
    column per label key (numeric labels as numbers)."""
    data = {t.type: prof.values[:, i] for i, t in enumerate(prof.sample_types)}
    frames = prof.frames()
    leaf = np.full(prof.n_samples, -1, dtype=np.int64)
    if len(frames):
        first = frames.offsets[:-1][frames.frames_per_sample > 0]
        leaf[frames.sample[first]] = frames.func[first]
    names = np.append(prof.func_name, None)
    data["leaf"] = _categorical(names[leaf])
    data["depth"] = frames.frames_per_sample
    df = pd.DataFrame(data, index=pd.RangeIndex(prof.n_samples, name="sample"))
    if len(prof.label_sample):
        labels = labels_frame(prof)
        for key, group in labels.groupby("key", sort=True, observed=True):
            group = group.drop_duplicates("sample")
            is_num = group["str"].isna().all()
            column = group.set_index("sample")["num" if is_num else "str"]
            df[key] = column.reindex(df.index)
    return df


def frames_frame(prof: Profile) -> pd.DataFrame:
    """One row per frame of every sample (leaf first, depth 0), inline frames included."""
    fr = prof.frames()
    func = fr.func
    valid = func >= 0
    safe = np.where(valid, func, 0)

    def pick(col, fill):
        if len(col) == 0:
            return np.full(len(func), fill, dtype=object)
        out = col[safe].astype(object) if col.dtype == object else col[safe]
        return np.where(valid, out, fill)

    return pd.DataFrame({
        "sample": fr.sample,
        "depth": fr.depth,
        "function": _categorical(pick(prof.func_name, None)),
        "file": _categorical(pick(prof.func_filename, None)),
        "line": fr.lineno,
        "start_line": pick(prof.func_start_line, 0).astype(np.int64),
        "inlined": fr.inlined,
        "location_id": prof.loc_id[fr.loc] if len(fr.loc) else np.zeros(0, np.uint64),
        "address": prof.loc_address[fr.loc] if len(fr.loc) else np.zeros(0, np.uint64),
    })


def functions_frame(prof: Profile) -> pd.DataFrame:
    """One row per function, with flat and cum of every sample type (cum once per sample)."""
    fr = prof.frames()
    df = pd.DataFrame({
        "name": prof.func_name.astype(object), "system_name": prof.func_system_name.astype(object),
        "filename": prof.func_filename.astype(object), "start_line": prof.func_start_line,
    }, index=pd.Index(prof.func_id, name="id"))
    n = len(prof.func_id)
    ok = fr.func >= 0
    depth0 = np.zeros(len(fr.func), dtype=bool)
    if len(fr.func):
        depth0[fr.offsets[:-1][fr.frames_per_sample > 0]] = True
    leaf = depth0 & ok
    pairs = pd.Index(fr.sample[ok] * max(n, 1) + fr.func[ok])
    first = ~pairs.duplicated()
    cum_func = fr.func[ok][first]
    cum_sample = fr.sample[ok][first]
    for i, t in enumerate(prof.sample_types):
        v = prof.values[:, i].astype(np.float64)
        df[f"flat_{t.type}"] = np.rint(np.bincount(fr.func[leaf], weights=v[fr.sample[leaf]], minlength=n)).astype(np.int64)
        df[f"cum_{t.type}"] = np.rint(np.bincount(cum_func, weights=v[cum_sample], minlength=n)).astype(np.int64)
    return df


def locations_frame(prof: Profile) -> pd.DataFrame:
    """One row per location line (inline chains give several rows, callee first)."""
    counts = np.diff(prof.line_offsets)
    loc = np.repeat(np.arange(len(prof.loc_id)), counts)
    within = np.arange(len(loc)) - np.repeat(prof.line_offsets[:-1], counts)
    lf = prof.line_func
    return pd.DataFrame({
        "location_id": prof.loc_id[loc],
        "address": prof.loc_address[loc],
        "mapping": [prof.mappings[m].filename if m >= 0 else "" for m in prof.loc_mapping[loc]],
        "inline_index": within,
        "inlined": within < counts[loc] - 1,
        "function": prof.func_name[lf] if len(lf) else np.zeros(0, object),
        "file": prof.func_filename[lf] if len(lf) else np.zeros(0, object),
        "line": prof.line_no,
    })


def labels_frame(prof: Profile) -> pd.DataFrame:
    """Labels in long form: sample, key, str (None for numeric), num, unit."""
    return pd.DataFrame({
        "sample": prof.label_sample, "key": prof.label_key.astype(object),
        "str": prof.label_str.astype(object), "num": prof.label_num, "unit": prof.label_unit.astype(object),
    })
