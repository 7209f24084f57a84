"""The web UI page: a bar of views, sample types and refine buttons over one or more view
panes, with its CSS and scripts inlined (no CDN, no request beyond the page itself).

The server sends one pane per page (each state is its own URL); a notebook gets every view
of every sample type in one page, so switching needs no kernel.
"""
from __future__ import annotations

import dataclasses
import functools
import html
import json
from importlib import resources

from .state import VIEW_TITLES, VIEWS, ViewState


@functools.cache
def asset(name: str) -> str:
    """A file of pyprofnb/web/static (the UI's CSS and scripts, vendored libraries)."""
    return resources.files(__package__).joinpath("static", name).read_text(encoding="utf-8")


def _esc(text) -> str:
    return html.escape(str(text), quote=True)


def _script(text: str) -> str:
    return "<script>" + text.replace("</script", "<\\/script") + "</script>"


@dataclasses.dataclass
class Snapshots:
    """What the server offers for refresh/compare: snapshot ids with their descriptions."""

    items: list[tuple[int, str]]
    refreshable: bool


def page(panes: dict[tuple[str, str], str], state: ViewState, *, mode: str, sample_types: list[str],
         title: str, subtitle: str = "", path: str = "/ui/", snapshots: Snapshots | None = None,
         source: str = "", download: str | None = None) -> str:
    """The whole HTML page. ``panes`` maps (view, sample type) to a fragment of
    `pyprofnb.web.views`; ``state.si`` must name a sample type present in ``panes``."""
    views = "".join(
        f'<a href="{_esc(path)}?{_esc(state.query(view=v, zoom=0))}" data-view="{v}"'
        f'{" class=on" if v == state.view else ""}>{VIEW_TITLES[v]}</a>' for v in VIEWS)
    options = "".join(f'<option value="{_esc(t)}"{" selected" if t == state.si else ""}>{_esc(t)}</option>'
                      for t in sample_types)
    refine = "".join(f'<button type="button" data-refine="{k}" title="{tip}">{label}</button>' for k, label, tip in (
        ("f", "Focus", "keep only samples through the matching functions (-focus)"),
        ("i", "Ignore", "drop samples through the matching functions (-ignore)"),
        ("h", "Hide", "leave the matching functions out of stacks (-hide)"),
        ("s", "Show", "keep only the matching functions in stacks (-show)"),
        ("sf", "Show from", "cut stacks above the matching functions (-show_from)"),
        ("reset", "Reset", "drop every filter")))
    snap = ""
    if snapshots is not None:
        snap_opts = "".join(f'<option value="{i}"{" selected" if i == state.p else ""}>{_esc(d)}</option>'
                            for i, d in snapshots.items)
        base_opts = '<option value="-1">(no base)</option>' + "".join(
            f'<option value="{i}"{" selected" if i == state.base else ""}>{_esc(d)}</option>'
            for i, d in snapshots.items)
        snap = (f'<span class="pp-group"><select id="pp-snap" title="profile shown">{snap_opts}</select>'
                + ('<button type="button" id="pp-refresh" title="fetch the sources again">Refresh</button>'
                   if snapshots.refreshable else "")
                + '<button type="button" id="pp-setbase" title="compare the profiles fetched next with this one">'
                  'Set as base</button>'
                + f'<label>base <select id="pp-base" title="profile compared with">{base_opts}</select></label></span>')
    down = f'<a href="{_esc(download)}" download>Download</a>' if download else ""
    bodies = []
    for (view, si), fragment in panes.items():
        cls = "pp-pane pp-graph-pane" if view == "graph" else "pp-pane"
        hidden = "" if (view, si) == (state.view, state.si) else " hidden"
        bodies.append(f'<section class="{cls}" data-key="{_esc(view)}|{_esc(si)}"{hidden}>{fragment}</section>')
    defaults = {f.name: f.default for f in dataclasses.fields(ViewState)}
    config = {"mode": mode, "state": dataclasses.asdict(state), "defaults": defaults, "path": path, "source": source}
    config_json = json.dumps(config, separators=(",", ":")).replace("</", "<\\/")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{_esc(title)}</title>"
        f"<style>{asset('app.css')}</style></head><body>"
        f'<header class="pp-bar"><span class="pp-brand">pyprofnb</span><nav class="pp-views">{views}</nav>'
        f'<label>sample <select id="pp-si">{options}</select></label>'
        f'<span class="pp-group"><input id="pp-search" type="search" placeholder="regexp (or click nodes)" '
        f'aria-label="regexp" value="{_esc(state.t or "")}">{refine}</span>{snap}{down}</header>'
        f'<div class="pp-sub" id="pp-sub">{_esc(subtitle)}</div><div class="pp-notice" id="pp-notice"></div>'
        f'<main id="pp-main">{"".join(bodies)}</main>'
        f'<script type="application/json" id="pp-config">{config_json}</script>'
        f"{_script(asset('svg-pan-zoom.min.js'))}{_script(asset('app.js'))}"
        "</body></html>\n"
    )


def subtitle(prof, opts_state: ViewState, base_note: str = "") -> str:
    """One line under the bar: the filters in effect and what is compared."""
    parts = []
    names = {"f": "focus", "i": "ignore", "h": "hide", "s": "show", "sf": "show_from"}
    for key, name in names.items():
        value = getattr(opts_state, key)
        if value:
            parts.append(f"{name}={value}")
    if opts_state.t and opts_state.view in ("peek", "source"):
        parts.append(f"functions={opts_state.t}")
    if base_note:
        parts.append(base_note)
    return "   ".join(parts)


__all__ = ["Snapshots", "asset", "page", "subtitle"]
