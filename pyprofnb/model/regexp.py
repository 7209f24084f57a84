"""Regular expressions as go tool pprof has them: RE2 syntax, matching in linear time.

Every pattern a user or a profile supplies (``-focus``, ``-ignore``, ``-hide``, ``-show``,
``-tagfocus``..., ``-list``/``-peek``, a profile's own ``drop_frames``/``keep_frames``, the
explorer's boxes) is compiled here. Python's ``re`` backtracks: ``(a+)+b`` against a long
name takes minutes, and a profile file carries its ``drop_frames`` pattern into every load.
Go's regexp is RE2, so pprof answers at once; so do we, with google-re2 (the RE2 authors'
own binding). RE2 also rejects what Go rejects (lookarounds, backreferences), so a pattern
that works here works in go tool pprof and the other way round.

>>> rx = compile_pattern("focus", "main\\.(handler|worker)")
>>> bool(rx.search("main.worker"))
True
"""
from __future__ import annotations

from ..errors import OptionError

try:
    import re2 as _re2
except ImportError:  # pragma: no cover - no wheel for this interpreter yet
    _re2 = None

# RE2's own memory limit for one compiled pattern (its default is 8 MiB); a pattern
# needing more is refused with a clear error rather than allowed to grow.
MAX_PATTERN_MEMORY = 64 << 20
# Patterns longer than this are refused before compiling (no sensible pprof filter is).
MAX_PATTERN_LENGTH = 64 * 1024

ENGINE = "re2" if _re2 is not None else "re"

if _re2 is not None:
    _OPTIONS = _re2.Options()
    _OPTIONS.log_errors = False  # RE2 would also print each bad pattern to stderr
    _OPTIONS.max_mem = MAX_PATTERN_MEMORY
    Error = _re2.error
else:  # pragma: no cover
    import re as _re

    Error = _re.error


def _message(exc: Exception) -> str:
    text = exc.args[0] if exc.args else str(exc)
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return str(text)


def compile_pattern(name: str, pattern: str):
    """Compile ``pattern`` (RE2 syntax) for the option or field ``name``; an OptionError
    names both when it is not a valid regexp. The result has ``search``/``match``/
    ``fullmatch`` like a ``re.Pattern``."""
    if not isinstance(pattern, str):
        raise OptionError(f"{name} must be a regexp string, got {type(pattern).__name__}")
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise OptionError(f"parsing {name} regexp: pattern is {len(pattern)} characters, "
                          f"more than the limit of {MAX_PATTERN_LENGTH}")
    try:
        if _re2 is not None:
            return _re2.compile(pattern, _OPTIONS)
        return _re.compile(pattern)  # pragma: no cover
    except (Error, TypeError, ValueError, OverflowError, RecursionError) as exc:
        shown = pattern if len(pattern) <= 80 else pattern[:77] + "..."
        raise OptionError(f"parsing {name} regexp {shown!r}: {_message(exc)}") from None


def escape(text: str) -> str:
    """``text`` as a pattern that matches it literally."""
    if _re2 is not None:
        return _re2.escape(text)
    return _re.escape(text)  # pragma: no cover


__all__ = ["ENGINE", "Error", "MAX_PATTERN_LENGTH", "compile_pattern", "escape"]
