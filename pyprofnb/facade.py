"""The convenience layer: `pyprofnb.load`, `pyprofnb.load_test` and the methods of `Profile`
that need layers above the model (``prof.top()``, ``prof.text("top")``, ``prof.report(...)``,
``prof.samples_df()`` ..., ``prof.to_bytes()``).

The model (`pyprofnb.model`) imports no report, table or codec; its convenience methods call
the functions below, which this module installs into the model when `pyprofnb` is imported.
Each function imports its layer when first called, so ``import pyprofnb`` (and a service
process that only collects and serves profiles) does not pull in pandas or the reports.
Why this and not a subclass: docs/ARCHITECTURE.md, "Convenience methods".
"""
from __future__ import annotations

import sys

from .model import profile as _model
from .model.profile import Profile


# ---- the Profile methods served from above the model ------------------------------------

def samples_df(prof: Profile):
    from .report.tables import samples_frame

    return samples_frame(prof)


def frames_df(prof: Profile):
    from .report.tables import frames_frame

    return frames_frame(prof)


def functions_df(prof: Profile):
    from .report.tables import functions_frame

    return functions_frame(prof)


def locations_df(prof: Profile):
    from .report.tables import locations_frame

    return locations_frame(prof)


def labels_df(prof: Profile):
    from .report.tables import labels_frame

    return labels_frame(prof)


def report(prof: Profile, kind: str = "top", **options):
    from .report import make_report

    return make_report(prof, kind, **options)


def text(prof: Profile, kind: str = "top", **options) -> str:
    from .report import render_text

    return render_text(prof, kind, **options)


def to_bytes(prof: Profile, *, compress: bool = True) -> bytes:
    from .codec.proto import encode

    return encode(prof, compress=compress)


_model.install_convenience(sys.modules[__name__])


# ---- the package's own calls -------------------------------------------------------------

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
