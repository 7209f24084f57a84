"""pyprofnb: Go's pprof workflow for Python services, centred on Jupyter.

Most users need one call::

    import pyprofnb
    prof = pyprofnb.load("http://127.0.0.1:4000/debug/pprof/heap")
    prof.top(sample_index="alloc_space")
"""
from .errors import (
    FetchError,
    IncompatibleProfilesError,
    InvalidProfileError,
    OptionError,
    PprofError,
    ProfileFormatError,
    ProfilingError,
    ProfilingInUseError,
)
from .profile import Mapping, Profile, ProfileBuilder, ValueType, diff, merge, subtract

__version__ = "0.1.0"


def load(source, *more_sources, **options) -> Profile:
    """Read a profile from a path, bytes, a URL or a Profile; several sources are merged.

    >>> prof = pyprofnb.load("base.heap")
    >>> prof = pyprofnb.load("http://127.0.0.1:4000/debug/pprof/profile", seconds=5)
    """
    from .sources import load_sources

    return load_sources([source, *more_sources], **options)


def load_test(url, n=200, c=50, method="GET", **options):
    """Put hey-style load on ``url`` (``-n``, ``-c``, ``-m`` ... as keywords); returns a
    LoadResult with ``summary()`` and a per-request DataFrame ``df``, or a LoadRun to
    ``wait()`` on with ``background=True``.

    >>> pyprofnb.load_test("http://127.0.0.1:4000/sendjson", n=10000, c=8, method="POST").rps
    """
    from .loadgen import run_load

    return run_load(url, n=n, c=c, method=method, **options)


def __getattr__(name):
    # pyprofnb.store / pyprofnb.fleet on first use: they need the `fleet` extra (pyarrow, duckdb).
    if name in ("store", "fleet"):
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'pyprofnb' has no attribute {name!r}")


def load_ipython_extension(ipython):  # pragma: no cover - exercised by the notebook tests
    from .jupyter.magic import load_ipython_extension as _load

    _load(ipython)


__all__ = [
    "FetchError", "IncompatibleProfilesError", "InvalidProfileError", "Mapping", "OptionError",
    "PprofError", "Profile", "ProfileBuilder", "ProfileFormatError", "ProfilingError",
    "ProfilingInUseError", "ValueType", "diff", "load", "load_test", "merge", "subtract",
]
