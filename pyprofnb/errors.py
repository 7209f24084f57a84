"""The exceptions pyprofnb raises. Every one names the input and what was expected."""


class PprofError(Exception):
    """Base class of every error pyprofnb raises on purpose."""


class ProfileFormatError(PprofError):
    """Bytes that are not a readable profile (truncated, corrupt, not a profile, too large)."""


class InvalidProfileError(PprofError):
    """A decoded profile whose contents break profile.proto's rules (dangling ids, bad value counts)."""


class IncompatibleProfilesError(PprofError):
    """Profiles that cannot be merged or compared (different sample types or units)."""


class OptionError(PprofError):
    """A report or command-line option with a bad value (unknown sample index, bad regex...)."""


class FetchError(PprofError):
    """A profile source that could not be fetched (bad URL, refused connection, server error)."""


class ProfilingError(PprofError):
    """A collector that cannot start or run (already running, unsupported platform)."""


class ProfilingInUseError(ProfilingError):
    """A second CPU profile requested while one runs."""
