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
from .facade import load, load_test
from .model.profile import Mapping, Profile, ProfileBuilder, ValueType, diff, merge, subtract

__version__ = "0.1.0"


def load_ipython_extension(ipython):  # pragma: no cover - exercised by the notebook tests
    from .jupyter.magic import load_ipython_extension as _load

    _load(ipython)


__all__ = [
    "FetchError", "IncompatibleProfilesError", "InvalidProfileError", "Mapping", "OptionError",
    "PprofError", "Profile", "ProfileBuilder", "ProfileFormatError", "ProfilingError",
    "ProfilingInUseError", "ValueType", "diff", "load", "load_test", "merge", "subtract",
]
