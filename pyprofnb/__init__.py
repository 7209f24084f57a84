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

__version__ = "0.1.0"

# Imported on first use, not with the package: a service that only serves /debug/pprof
# (pyprofnb.http, pyprofnb.collect) must not pay for NumPy and the model until a profile is
# built (issue 9: every import adds objects the GC walks in every full collection).
_LAZY = {
    "load": "facade", "load_test": "facade",
    "Mapping": "model.profile", "Profile": "model.profile", "ProfileBuilder": "model.profile",
    "ValueType": "model.profile", "diff": "model.profile", "merge": "model.profile",
    "subtract": "model.profile",
}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None and name in ("store", "fleet"):
        # pyprofnb.store / pyprofnb.fleet on first use: they need the `fleet` extra (pyarrow, duckdb).
        import importlib

        return importlib.import_module(f".{name}", __name__)
    if module is None:
        raise AttributeError(f"module 'pyprofnb' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def _install_convenience() -> None:
    """Profile's report and DataFrame methods come from the facade (model/profile.py)."""
    from . import facade  # noqa: F401  (installs itself into the model)


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


def load_ipython_extension(ipython):  # pragma: no cover - exercised by the notebook tests
    from .jupyter.magic import load_ipython_extension as _load

    _load(ipython)


__all__ = [
    "FetchError", "IncompatibleProfilesError", "InvalidProfileError", "Mapping", "OptionError",
    "PprofError", "Profile", "ProfileBuilder", "ProfileFormatError", "ProfilingError",
    "ProfilingInUseError", "ValueType", "diff", "load", "load_test", "merge", "subtract",
]
