"""Turn what a user names — paths, URLs, bytes, Profile objects — into one Profile, with
go tool pprof's ``-base`` / ``-diff_base`` / ``-normalize`` semantics."""
from __future__ import annotations

import os
from typing import Iterable

from .errors import FetchError, OptionError
from .fetch import fetch, is_url
from .model.filters import remove_uninteresting
from .codec.proto import DEFAULT_MAX_BYTES, decode
from .model.profile import Profile, diff, merge, subtract


def load_one(source, *, seconds: int | None = None, timeout: int | None = None,
             max_bytes: int = DEFAULT_MAX_BYTES, all_frames: bool = False, memory_budget: int | None = None) -> Profile:
    prof = _read(source, seconds=seconds, timeout=timeout, max_bytes=max_bytes, memory_budget=memory_budget)
    return prof if all_frames else remove_uninteresting(prof)


def _read(source, *, seconds, timeout, max_bytes, memory_budget) -> Profile:
    if isinstance(source, Profile):
        return source
    if isinstance(source, (bytes, bytearray, memoryview)):
        return decode(source, max_bytes=max_bytes, source="profile bytes", memory_budget=memory_budget)
    if isinstance(source, os.PathLike):
        source = os.fspath(source)
    if not isinstance(source, str):
        raise OptionError(f"a profile source must be a path, URL, bytes or Profile, got {type(source).__name__}")
    if is_url(source) and not os.path.exists(source):
        data = fetch(source, seconds=seconds, timeout=timeout, max_bytes=max_bytes)
        return decode(data, max_bytes=max_bytes, source=source, memory_budget=memory_budget)
    try:
        size = os.path.getsize(source)
        if size > max_bytes:
            raise FetchError(f"{source} is {size} bytes, more than the limit of {max_bytes}")
        with open(source, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise FetchError(f"cannot read {source}: {exc.strerror or exc}") from None
    return decode(data, max_bytes=max_bytes, source=source, memory_budget=memory_budget)


def _merged(sources: Iterable, **kw) -> Profile | None:
    profiles = [load_one(s, **kw) for s in sources]
    if not profiles:
        return None
    return profiles[0] if len(profiles) == 1 else merge(profiles)


def load_sources(sources, *, seconds: int | None = None, timeout: int | None = None, base=(),
                 diff_base=(), normalize: bool = False, all_frames: bool = False,
                 max_bytes: int = DEFAULT_MAX_BYTES, memory_budget: int | None = None) -> Profile:
    """One Profile from several sources (merged), minus ``base`` or compared with ``diff_base``.
    Each profile's drop_frames are applied as pprof does, unless ``all_frames``. A profile
    larger than ``max_bytes`` (decompressed) or needing more than ``memory_budget`` bytes
    once decoded (default 4 GiB, or ``PYPROFNB_MEMORY_BUDGET``) is refused."""
    if isinstance(sources, (str, bytes, Profile, os.PathLike)):
        sources = [sources]
    base = [base] if isinstance(base, (str, bytes, Profile, os.PathLike)) else list(base or ())
    diff_base = [diff_base] if isinstance(diff_base, (str, bytes, Profile, os.PathLike)) else list(diff_base or ())
    if base and diff_base:
        raise OptionError("-base and -diff_base cannot both be given")
    kw = dict(seconds=seconds, timeout=timeout, max_bytes=max_bytes, all_frames=all_frames, memory_budget=memory_budget)
    prof = _merged(list(sources), **kw)
    if prof is None:
        raise OptionError("no profile source given")
    if base:
        return subtract(prof, _merged(base, **kw), normalize=normalize)
    if diff_base:
        return diff(prof, _merged(diff_base, **kw), normalize=normalize)
    return prof
