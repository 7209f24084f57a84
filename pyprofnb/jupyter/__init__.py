"""The notebook layer: the ``%pprof`` magic, the explorer widgets and rich display.

    %load_ext pyprofnb
    %pprof -top http://127.0.0.1:4000/debug/pprof/heap

or, without the magic::

    from pyprofnb.jupyter import explore, show
    explore(prof)                 # widgets
    show(prof, "flame")           # one rich view
"""
from __future__ import annotations


def show(prof, view: str = "top", argument: str | None = None, **options):
    """The rich rendering of one report of ``prof`` (returns a DataFrame that displays richly)."""
    from ..options import ReportOptions
    from .display import render

    return render(prof, view, argument, ReportOptions.make(**options))


def explore(prof, **kwargs):
    from .explorer import explore as _explore

    return _explore(prof, **kwargs)


def load_ipython_extension(ipython) -> None:
    from .magic import load_ipython_extension as _load

    _load(ipython)


__all__ = ["explore", "load_ipython_extension", "show"]
