"""Every view of a profile in one self-contained page, for places with no server to ask:
notebook outputs (iframe ``srcdoc``), files sent to a colleague.

    >>> html = embedded_page(prof, ViewState(view="flame"))

Switching view or sample type happens in the page; a change that needs the profile again
(focus, ignore, ...) is posted to the parent window, which a kernel-side widget may answer.
"""
from __future__ import annotations

import time

from ..errors import PprofError
from ..options import ReportOptions
from ..model import Profile
from . import views
from .page import page, subtitle
from .server import resolve_sample
from .state import VIEWS, ViewState

# A profile with many sample types (Go's heap has 4, a CPU profile 2) would make the page
# heavy; the first few are embedded, the others ask for a re-run.
MAX_SAMPLE_TYPES = 4


def embedded_panes(prof: Profile, state: ViewState, options: ReportOptions | None = None, *,
                   view_names=VIEWS, max_sample_types: int = MAX_SAMPLE_TYPES) -> dict[tuple[str, str], str]:
    """(view, sample type) -> fragment, for the state's filters."""
    types = views.sample_types(prof)
    chosen = [state.si] + [t for t in types if t != state.si]
    panes = {}
    for si in chosen[:max_sample_types]:
        for view in view_names:
            s = state.replace(view=view, si=si)
            try:
                panes[(view, si)] = views.render_view(prof, s, options)
            except PprofError as exc:
                panes[(view, si)] = views.error_fragment(exc)
    return panes


def embedded_page(prof: Profile, state: ViewState | None = None, options: ReportOptions | None = None, *,
                  source: str = "", title: str = "pyprofnb", timings: dict | None = None) -> str:
    """The whole UI for ``prof`` as one HTML page with no external reference."""
    started = time.perf_counter()
    state = resolve_sample(prof, state or ViewState.from_options(options or ReportOptions()), options or ReportOptions())
    panes = embedded_panes(prof, state, options)
    text = page(panes, state, mode="embed", sample_types=views.sample_types(prof), title=title,
                subtitle=subtitle(prof, state), source=source)
    if timings is not None:
        timings["seconds"] = time.perf_counter() - started
    return text


__all__ = ["MAX_SAMPLE_TYPES", "embedded_page", "embedded_panes"]
