"""The profile explorer: go tool pprof's web UI as ipywidgets, in the notebook.

    from pyprofnb.jupyter import explore
    explore(prof)                      # or: %pprof URL   (no report flag)

Controls: sample type, view (top, flame graph, graph, peek, list, traces), node count,
focus/ignore/hide, granularity, a base profile for ``-base``/``-diff_base``, and refresh
from the URL. Each change re-renders from the Profile already loaded; only "refresh" fetches.
"""
from __future__ import annotations

import dataclasses

import ipywidgets as W
from IPython.display import display

from ..errors import PprofError
from ..options import GRANULARITIES, OPTION_BY_NAME, ReportOptions
from ..model.profile import Profile, diff, subtract
from ..sources import load_sources
from . import display as rich

# "web UI": every view of the web UI in one page (pyprofnb.web); its Focus/Ignore/Hide/Show
# buttons fill the explorer's boxes, so the kernel recomputes.
VIEWS = ("top", "flame graph", "graph", "peek", "list", "traces", "web UI")
_NEEDS_REGEX = {"peek", "list"}
NO_BASE = "(none)"


class Explorer:
    """Widgets over one Profile. ``explorer.profile`` is the loaded profile, ``explorer.frame``
    the DataFrame of the view shown, ``explorer.options`` the options in effect."""

    def __init__(self, prof: Profile, *, options: ReportOptions | None = None, view: str = "top",
                 sources=None, seconds=None, timeout=None, base=(), diff_base=(), bases: dict | None = None,
                 shell=None):
        self.profile = prof
        self.sources = [s for s in (sources or []) if isinstance(s, str)]
        self.seconds, self.timeout = seconds, timeout
        self._fetch_base, self._fetch_diff_base = list(base or ()), list(diff_base or ())
        self._bases = dict(bases or {})
        self._shell = shell
        self.frame = None
        opts = options or ReportOptions()
        self.options = opts

        types = [t.type for t in prof.sample_types]
        try:
            current = prof.sample_types[prof.sample_type_index(opts.sample_index or None)].type
        except PprofError:
            current = types[prof.sample_type_index()]
        lay = W.Layout(width="auto")
        self.sample = W.Dropdown(options=types, value=current, description="sample", layout=W.Layout(width="230px"))
        self.view = W.ToggleButtons(options=VIEWS, value=view if view in VIEWS else "top",
                                    style={"button_width": "104px"})  # "flame graph" in full
        self.nodecount = W.BoundedIntText(value=opts.nodecount if opts.nodecount > 0 else 30, min=1, max=100000,
                                          description="nodes", layout=W.Layout(width="150px"))
        self.granularity = W.Dropdown(options=GRANULARITIES, value=opts.granularity, description="granularity",
                                      layout=W.Layout(width="230px"))
        self.cum = W.Checkbox(value=opts.sort == "cum", description="sort by cum", indent=False, layout=W.Layout(width="110px"))
        self.regex = W.Text(value="", placeholder="regexp (peek, list)", description="function",
                            layout=W.Layout(width="260px"))
        self.focus = W.Text(value=opts.focus, placeholder="regexp", description="focus", tooltip=OPTION_BY_NAME["focus"].help)
        self.ignore = W.Text(value=opts.ignore, placeholder="regexp", description="ignore", tooltip=OPTION_BY_NAME["ignore"].help)
        self.hide = W.Text(value=opts.hide, placeholder="regexp", description="hide", tooltip=OPTION_BY_NAME["hide"].help)
        self.show = W.Text(value=opts.show, placeholder="regexp", description="show", tooltip=OPTION_BY_NAME["show"].help)
        for w, css in ((self.sample, "pp-w-si"), (self.focus, "pp-w-f"), (self.ignore, "pp-w-i"), (self.hide, "pp-w-h"), (self.show, "pp-w-s")):
            w.add_class(css)
        self.base = W.Dropdown(options=self._base_choices(), value=NO_BASE, description="base", layout=W.Layout(width="260px"))
        self.base_mode = W.ToggleButtons(options=("diff_base", "base"), value="diff_base", style={"button_width": "80px"},
                                         tooltips=("compare: percentages relative to the base", "subtract the base"))
        self.refresh = W.Button(description="refresh", icon="refresh", disabled=not self.sources,
                                tooltip="fetch the profile again from " + (self.sources[0] if self.sources else "(no URL)"))
        self.status = W.HTML(value="")
        self.out = W.Output(layout=W.Layout(width="100%"))
        for w in (self.sample, self.view, self.nodecount, self.granularity, self.cum, self.base, self.base_mode):
            w.observe(self._changed, names="value")
        for w in (self.focus, self.ignore, self.hide, self.show, self.regex):
            w.continuous_update = False
            w.observe(self._changed, names="value")
        self.refresh.on_click(self._refresh)
        self.widget = W.VBox([
            self.view,
            W.HBox([self.sample, self.granularity, self.nodecount, self.cum], layout=lay),
            W.HBox([self.focus, self.ignore, self.hide, self.show], layout=lay),
            W.HBox([self.regex, self.base, self.base_mode, self.refresh], layout=lay),
            self.status,
            self.out,
        ])
        self.widget.add_class("pyprofnb-explorer")
        self.render()

    # ------------------------------------------------------------------ state

    def _base_choices(self) -> list[str]:
        names = [NO_BASE, *self._bases]
        if self._shell is not None:
            names += [k for k, v in self._shell.user_ns.items()
                      if isinstance(v, Profile) and not k.startswith("_") and v is not self.profile and k not in names]
        return names

    def current_options(self) -> ReportOptions:
        return dataclasses.replace(
            self.options, sample_index=self.sample.value, nodecount=int(self.nodecount.value),
            granularity=self.granularity.value, sort="cum" if self.cum.value else "flat",
            focus=self.focus.value.strip(), ignore=self.ignore.value.strip(), hide=self.hide.value.strip(),
            show=self.show.value.strip(),
        )

    def _compared(self) -> Profile:
        name = self.base.value
        if name == NO_BASE:
            return self.profile
        base = self._bases.get(name)
        if base is None and self._shell is not None:
            base = self._shell.user_ns.get(name)
        if not isinstance(base, Profile):
            raise PprofError(f"{name!r} no longer holds a Profile")
        return diff(self.profile, base) if self.base_mode.value == "diff_base" else subtract(self.profile, base)

    # ------------------------------------------------------------------ rendering

    def render(self) -> None:
        """Re-render the view from the loaded profile (no fetch)."""
        view = self.view.value
        self.regex.disabled = view not in _NEEDS_REGEX
        self.nodecount.disabled = view in ("flame graph", "traces", "peek", "list", "web UI")
        with self.out:
            self.out.clear_output(wait=True)
            try:
                opts = self.current_options()
                for name in ("focus", "ignore", "hide", "show"):
                    opts.set(name, getattr(opts, name))  # checks the regexps
                argument = None
                if view in _NEEDS_REGEX:
                    argument = self.regex.value.strip()
                    if not argument:
                        display(rich.Message(f"type a function regexp to {view}", error=False))
                        self.frame = None
                        return
                self.options = opts
                if view == "web UI":
                    self.frame = None
                    display(rich.WebView(self._compared(), opts, source=" ".join(self.sources), bridge=True))
                    return
                result = rich.render(self._compared(), view, argument, opts)
                self.frame = result if not isinstance(result, str) else None
                display(result)
            except PprofError as exc:
                self.frame = None
                display(rich.error_message(exc))

    def _changed(self, change) -> None:
        self.render()

    def _refresh(self, button=None) -> None:
        self.status.value = f"<i>fetching {self.sources[0]} …</i>"
        try:
            self.profile = load_sources(self.sources, seconds=self.seconds, timeout=self.timeout,
                                        base=self._fetch_base, diff_base=self._fetch_diff_base)
            self.status.value = f"<span style='color:#555'>fetched {self.profile.n_samples} samples</span>"
        except PprofError as exc:
            self.status.value = rich.error_message(exc)._repr_html_()
            return
        self.base.options = self._base_choices()
        self.render()

    def _repr_mimebundle_(self, include=None, exclude=None):
        """The widgets, plus what a viewer without them shows (GitHub, nbviewer, a notebook
        saved without widget state): the top table as text and the call graph as an image,
        never ``VBox(children=...)``."""
        bundle = dict(self.widget._repr_mimebundle_(include=include, exclude=exclude) or {})
        text, fallback = rich.static_view(self._compared(), self.current_options())
        bundle["text/plain"] = text
        bundle["text/html"] = fallback
        return bundle

    def __repr__(self) -> str:
        return f"<Explorer of {self.profile!r}, view {self.view.value!r}>"


def explore(prof: Profile, **kwargs) -> Explorer:
    """An explorer over ``prof`` (give ``bases={"name": profile}`` to offer comparisons)."""
    if not isinstance(prof, Profile):
        prof = load_sources([prof])
    return Explorer(prof, **kwargs)


__all__ = ["Explorer", "VIEWS", "explore"]
