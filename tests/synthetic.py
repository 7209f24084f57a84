"""Small hand-made profiles for tests that need exact, known numbers."""
from __future__ import annotations

from pyprofnb.model.profile import ProfileBuilder

MAIN = ("main", "/app/main.py", 1)
HANDLER = ("handler", "/app/handler.py", 5)
DUMPS = ("json.dumps", "/usr/lib/python3/json/__init__.py", 3)
ENCODE = ("json.encoder.encode", "/usr/lib/python3/json/encoder.py", 10)
OTHER = ("<module>", "/app/other.py", 2)


def cpu(samples):
    """A CPU profile from (leaf-first stack, sample count) pairs, 10 ms per sample."""
    b = ProfileBuilder([("samples", "count"), ("cpu", "nanoseconds")], period_type=("cpu", "nanoseconds"),
                       period=10_000_000)
    for stack, n in samples:
        b.add(stack, [n, n * 10_000_000])
    return b.build(duration_nanos=10**9)
