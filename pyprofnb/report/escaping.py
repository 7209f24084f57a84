"""Text from a profile (function, file, label and thread names) made safe for the formats
that embed it. The profiled program chooses those names, so a name is data, never markup:

- `script_json`: JSON inside an HTML ``<script>`` element. ``<``, ``>`` and ``&`` become
  ``\\u003c``, ``\\u003e`` and ``\\u0026`` (JSON.parse reads them back unchanged), so no
  ``</script>`` or ``<!--`` (which would switch the HTML parser to its escaped state and
  stop the script from running) can appear; non-ASCII is escaped too (U+2028/2029 included).
- DOT strings are escaped by `pyprofnb.report.dot.escape` (pprof's escapeForDot, applied
  to every value that reaches a quoted DOT string); HTML text and attributes by
  ``html.escape``.
"""
from __future__ import annotations

import json

_HTML_UNSAFE = {ord("<"): "\\u003c", ord(">"): "\\u003e", ord("&"): "\\u0026"}


def script_json(value) -> str:
    """``value`` as JSON that can sit inside ``<script>...</script>`` whatever its strings hold.

    >>> script_json({"n": ["<!--<script>"]})
    '{"n":["\\\\u003c!--\\\\u003cscript\\\\u003e"]}'
    """
    return json.dumps(value, separators=(",", ":"), ensure_ascii=True).translate(_HTML_UNSAFE)


__all__ = ["script_json"]
