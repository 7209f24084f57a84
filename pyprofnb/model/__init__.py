"""The profile model: pprof's profile.proto as NumPy columns, its builder, merge, subtract and
filters taking compiled regexps. Imports only NumPy, `pyprofnb.errors` and `pyprofnb.units`."""
from .profile import (
    HEAP_SAMPLE_TYPES,
    Frames,
    Mapping,
    Profile,
    ProfileBuilder,
    ValueType,
    diff,
    heap_unsample_weight,
    merge,
    subtract,
)

__all__ = [
    "HEAP_SAMPLE_TYPES", "Frames", "Mapping", "Profile", "ProfileBuilder", "ValueType", "diff",
    "heap_unsample_weight", "merge", "subtract",
]
