"""Flame graphs: one rectangle per distinct call path, as a DataFrame, as a self-contained
interactive HTML page and as a matplotlib figure.

The rectangles come from the same prepared report as every other view (`prepare` and
`Report.node_table`), so granularity, sample index and focus/ignore/hide/show filters name
and cut frames exactly as ``-top`` does.

A row of the frame is a call path (root first): its ``depth`` (the synthetic root is 0),
``name``, ``parent`` row, ``x`` offset and ``width`` in sample units, the net ``value``
through it, its ``self`` value, and the ``increase`` and ``decrease`` that make up the net.
For an ordinary profile ``decrease`` is 0 and ``width == value``. For a ``-diff_base`` or
``-base`` profile, base samples are negative: a box is as wide as ``increase + decrease``
(the volume of change, as pprof's diff mode draws it) and its colour says whether the net
grew (red) or shrank (blue).

>>> from pyprofnb.report.flame import flame_html
>>> open("cpu.html", "w").write(flame_html(prof, sample_index="cpu"))
"""
from __future__ import annotations

import html
import zlib

import numpy as np
import pandas as pd

from ..options import ReportOptions
from ..model.profile import Profile
from .. import units
from .core import Report, prepare
from .escaping import script_json

ROW_PX = 18
# The HTML page leaves out boxes narrower than this share of the root; they would be
# thinner than a pixel and make the page heavy.
DEFAULT_MIN_WIDTH = 0.0005
DEFAULT_MAX_BOXES = 4000

_PALETTE = (  # pastel, by package; readable with dark text
    "#f5b971", "#f7d08a", "#e9a178", "#f2c57c", "#d9b382", "#f0a868", "#e8c07d",
    "#f4a896", "#dcbf85", "#f6cf9c", "#e3ad6f", "#eec48f",
)
GROW_RGB = (220, 56, 45)
SHRINK_RGB = (45, 110, 220)
NEUTRAL_RGB = (222, 222, 222)


# ---------------------------------------------------------------------- data

def flame_frame(rpt: Report) -> pd.DataFrame:
    """The flame graph rectangles of a prepared report (registered as report kind "flame")."""
    nodes = rpt.node_table()
    w = np.asarray(rpt.weights, dtype=np.int64)
    fnode = nodes.frame_node
    fsample = nodes.frame_sample

    keep = w[fsample] != 0 if len(fsample) else np.zeros(0, dtype=bool)
    if rpt.opts.granularity == "files" and len(fsample) > 1:
        # Consecutive frames in one file would stack into towers of the same box.
        same_as_caller = np.zeros(len(fsample), dtype=bool)
        same_as_caller[:-1] = (fsample[:-1] == fsample[1:]) & (fnode[:-1] == fnode[1:])
        keep &= ~same_as_caller
    idx = np.flatnonzero(keep)
    fnode, fsample = fnode[idx], fsample[idx]

    # Depth from the root: frames are leaf first within each sample.
    n_frames = len(fsample)
    per_sample = np.bincount(fsample, minlength=len(w)) if n_frames else np.zeros(len(w), np.int64)
    start = np.cumsum(per_sample) - per_sample
    leaf_pos = np.arange(n_frames) - start[fsample] if n_frames else np.zeros(0, np.int64)
    rdepth = per_sample[fsample] - 1 - leaf_pos

    # Give each frame the id of its call path, one depth at a time (the caller of frame i
    # is frame i + 1 of the same sample).
    path_of = np.full(n_frames, -1, dtype=np.int64)
    parents, path_nodes, depths = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
    n_paths = 0
    order = np.argsort(rdepth, kind="stable")
    bounds = np.searchsorted(rdepth[order], np.arange(int(rdepth.max()) + 2 if n_frames else 0))
    n_nodes = max(len(nodes), 1)
    for d in range(len(bounds) - 1):
        level = order[bounds[d]:bounds[d + 1]]
        parent = path_of[level + 1] if d > 0 else np.full(len(level), -1, dtype=np.int64)
        codes, uniques = pd.factorize((parent + 1) * n_nodes + fnode[level], sort=False)
        path_of[level] = n_paths + codes
        parents.append(uniques // n_nodes - 1)
        path_nodes.append(uniques % n_nodes)
        depths.append(np.full(len(uniques), d + 1, dtype=np.int64))
        n_paths += len(uniques)
    parent = np.concatenate(parents)
    node = np.concatenate(path_nodes)
    depth = np.concatenate(depths)

    sw = w[fsample]
    inc = np.bincount(path_of, weights=np.maximum(sw, 0), minlength=n_paths)
    dec = np.bincount(path_of, weights=np.maximum(-sw, 0), minlength=n_paths)
    leaf = leaf_pos == 0
    self_v = np.bincount(path_of[leaf], weights=sw[leaf], minlength=n_paths)

    # Row 0 is the root; path p is row p + 1.
    root_inc = float(np.maximum(w, 0).sum())
    root_dec = float(np.maximum(-w, 0).sum())
    inc = np.concatenate([[root_inc], inc]).astype(np.int64)
    dec = np.concatenate([[root_dec], dec]).astype(np.int64)
    parent = np.concatenate([[-1], parent + 1])
    depth = np.concatenate([[0], depth])
    width = inc + dec
    names = np.concatenate([["root"], nodes.printable[node] if n_paths else []]).astype(object)
    x = _layout(parent, depth, width, names)

    total = rpt.total
    value = inc - dec
    with np.errstate(divide="ignore", invalid="ignore"):
        percent = value / total * 100 if total else np.zeros(len(value))
    frame = pd.DataFrame({
        "depth": depth,
        "name": names,
        "function": np.concatenate([[""], nodes.name[node] if n_paths else []]).astype(object),
        "file": np.concatenate([[""], nodes.file[node] if n_paths else []]).astype(object),
        "line": np.concatenate([[0], nodes.lineno[node] if n_paths else []]).astype(np.int64),
        "parent": parent,
        "x": x,
        "width": width,
        "value": value,
        "self": np.concatenate([[0], np.rint(self_v).astype(np.int64)]),
        "increase": inc,
        "decrease": dec,
        "percent": percent,
    })
    frame.index.name = "box"
    frame.attrs.update(
        unit=rpt.sample_unit, sample_type=rpt.sample_type, total=total, diff=bool(root_dec and root_inc),
        header=rpt.profile_labels() + [f"Active filters: {', '.join(rpt.opts.active_filters())}"] * bool(rpt.opts.active_filters()),
    )
    return frame


def _layout(parent: np.ndarray, depth: np.ndarray, width: np.ndarray, names: np.ndarray) -> np.ndarray:
    """x offsets: children side by side under their parent, widest first (as pprof's stack view)."""
    x = np.zeros(len(parent), dtype=np.int64)
    if len(parent) <= 1:
        return x
    rows = pd.DataFrame({"parent": parent, "depth": depth, "width": width, "name": names})
    rows = rows.iloc[1:].sort_values(["depth", "parent", "width", "name"], ascending=[True, True, False, True], kind="stable")
    before = rows.groupby("parent", sort=False)["width"].cumsum().to_numpy() - rows["width"].to_numpy()
    index = rows.index.to_numpy()
    par = rows["parent"].to_numpy()
    dep = rows["depth"].to_numpy()
    cuts = np.searchsorted(dep, np.arange(dep.min(), dep.max() + 2))
    for a, b in zip(cuts[:-1], cuts[1:]):  # parents are placed before their children
        x[index[a:b]] = x[par[a:b]] + before[a:b]
    return x


def flame_data(prof: Profile, **options) -> pd.DataFrame:
    """The flame graph rectangles of ``prof`` under go tool pprof ``options``.

    >>> boxes = flame_data(prof, sample_index="alloc_space", focus="json")
    >>> boxes.nlargest(5, "self")[["name", "self", "percent"]]
    """
    return flame_frame(_report(prof, options))


def _report(prof: Profile, options: dict) -> Report:
    options = dict(options)
    base = options.pop("options", None)
    opts = base.replace(**options) if isinstance(base, ReportOptions) else ReportOptions.make(**options)
    return prepare(prof, "flame", opts)


# ---------------------------------------------------------------------- colours

def package_of(name: str) -> str:
    """The package part of a frame name, used to colour boxes (``json.encoder.f`` -> ``json``,
    ``github.com/a/b.F`` -> ``github.com/a/b``)."""
    name = name.split("(", 1)[0].split(" ", 1)[0]
    prefix, _, last = name.rpartition("/")
    head = last.split(".", 1)[0]
    return f"{prefix}/{head}" if prefix else head


def box_colours(frame: pd.DataFrame) -> list[str]:
    """One CSS colour per box: by package, or red/blue by net change for a diff."""
    if frame.attrs.get("diff") or (frame["decrease"] > 0).any():
        net = frame["value"].to_numpy(dtype=np.float64)
        scale = np.abs(net[1:]).max() if len(net) > 1 else 0.0
        out = []
        for v in net:
            t = min(1.0, abs(v) / scale) ** 0.5 if scale else 0.0
            target = GROW_RGB if v > 0 else SHRINK_RGB
            rgb = [round(n + (g - n) * t) for n, g in zip(NEUTRAL_RGB, target)]
            out.append("#%02x%02x%02x" % tuple(rgb))
        return out
    return [
        "#e8e8e8" if i == 0 else _PALETTE[zlib.crc32(package_of(n).encode()) % len(_PALETTE)]
        for i, n in enumerate(frame["name"])
    ]


# ---------------------------------------------------------------------- HTML

def _tooltip(row, unit: str, total: int, diff: bool) -> str:
    fmt = lambda v: units.scaled_label(int(v), unit, "auto")  # noqa: E731
    pct = lambda v: units.percentage(v, total).strip()  # noqa: E731
    lines = [row.name]
    if row.file and row.line:
        lines.append(f"{row.file}:{row.line}")
    elif row.file:
        lines.append(row.file)
    lines.append(f"total {fmt(row.value)} ({pct(row.value)})   self {fmt(row.self)} ({pct(row.self)})")
    if diff:
        lines.append(f"+{fmt(row.increase)} / -{fmt(row.decrease)}   net {'+' if row.value > 0 else ''}{fmt(row.value)}")
    return "\n".join(lines)


def _prune(frame: pd.DataFrame, min_width: float, max_boxes: int) -> pd.DataFrame:
    root_width = int(frame["width"].iloc[0]) if len(frame) else 0
    keep = frame["width"] >= min_width * root_width
    kept = frame[keep]
    if len(kept) > max_boxes:  # narrowest boxes go first; a child is never wider than its parent
        kept = kept.sort_values(["width", "depth"], ascending=[False, True], kind="stable").iloc[:max_boxes]
    return kept.sort_values(["depth", "x"], kind="stable")


_CSS = """
#ID{font:12px/1.2 -apple-system,BlinkMacSystemFont,"Segoe UI",Helvetica,Arial,sans-serif;position:relative;color:#222;margin:4px 0}
#ID .pf-bar{display:flex;flex-wrap:wrap;gap:8px;align-items:center;margin:0 0 4px 0}
#ID .pf-title{font-weight:600}
#ID .pf-bar input{font:inherit;padding:1px 4px;width:14em;border:1px solid #bbb;border-radius:3px}
#ID .pf-bar button{font:inherit;padding:1px 8px;border:1px solid #bbb;border-radius:3px;background:#f6f6f6;cursor:pointer}
#ID .pf-info{color:#555}
#ID .pf-legend{color:#555}
#ID .pf-body{position:relative;width:100%;overflow:hidden;background:#fff}
#ID .pf-r{position:absolute;height:17px;box-sizing:border-box;border-right:1px solid #fff;border-bottom:1px solid #fff;
 overflow:hidden;white-space:nowrap;text-overflow:ellipsis;padding:1px 3px;cursor:pointer;color:#222;font-size:11px;line-height:15px}
#ID .pf-r:hover{filter:brightness(0.92);outline:1px solid #555}
#ID .pf-r.pf-match{background:#e15cd8 !important;color:#fff}
#ID .pf-r.pf-anc{opacity:.6}
#ID .pf-tip{position:absolute;display:none;pointer-events:none;z-index:10;background:#fffff2;border:1px solid #999;
 padding:4px 6px;white-space:pre;font:11px/1.35 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;box-shadow:0 2px 6px rgba(0,0,0,.2);max-width:90%;overflow:hidden}
"""

_JS = r"""
(function(){
var cs=document.currentScript, root=cs&&cs.parentNode;
if(!root||!root.classList||!root.classList.contains('pyprofnb-flame'))root=document.getElementById('ID');
if(!root||root.dataset.pfReady)return; root.dataset.pfReady='1';
var D=JSON.parse(root.querySelector('.pf-data').textContent);
var body=root.querySelector('.pf-body'), tip=root.querySelector('.pf-tip'), info=root.querySelector('.pf-info');
var els=body.querySelectorAll('.pf-r'), n=els.length, at={}, tips=[], names=[], zoom=0;
for(var k=0;k<n;k++){var e=els[k]; tips.push(e.getAttribute('title')); e.removeAttribute('title'); at[+e.dataset.i]=k;}
function row(i){return at[i];}
function layout(f){
  var xf=D.x[row(f)], wf=D.w[row(f)], df=D.d[row(f)];
  for(var k=0;k<n;k++){var e=els[k], x=D.x[k], w=D.w[k], d=D.d[k], vis, l=0, wd=100;
    if(d<df){vis=x<=xf&&x+w>=xf+wf;}
    else{vis=x>=xf&&x+w<=xf+wf; l=(x-xf)/wf*100; wd=w/wf*100;}
    if(vis&&wd<0.02)vis=false;
    e.style.display=vis?'':'none';
    if(vis){e.style.left=l+'%'; e.style.width=wd+'%';}
    e.classList.toggle('pf-anc',d<df);
  }
  zoom=f;
}
body.addEventListener('click',function(ev){var e=ev.target.closest('.pf-r'); if(!e)return;
  var i=+e.dataset.i; layout(i===zoom?D.p[row(i)]<0?0:D.p[row(i)]:i);});
root.querySelector('.pf-reset').addEventListener('click',function(){layout(0);});
body.addEventListener('mousemove',function(ev){var e=ev.target.closest('.pf-r');
  if(!e){tip.style.display='none';return;}
  tip.textContent=tips[row(+e.dataset.i)]; tip.style.display='block';
  var r=root.getBoundingClientRect(), x=ev.clientX-r.left+12, y=ev.clientY-r.top+14;
  if(x+tip.offsetWidth>r.width)x=Math.max(0,ev.clientX-r.left-tip.offsetWidth-8);
  tip.style.left=x+'px'; tip.style.top=y+'px';});
body.addEventListener('mouseleave',function(){tip.style.display='none';});
var search=root.querySelector('.pf-search');
search.addEventListener('input',function(){
  var q=search.value, rx=null;
  if(q){try{rx=new RegExp(q,'i');}catch(err){rx=new RegExp(q.replace(/[.*+?^${}()|[\]\\]/g,'\\$&'),'i');}}
  var covered=new Array(n), matched=0, count=0;
  for(var k=0;k<n;k++){var m=!!(rx&&rx.test(D.n[k])); els[k].classList.toggle('pf-match',m);
    var p=D.p[k], pk=p>=0?row(p):undefined, cov=pk!==undefined&&(covered[pk]||els[pk].classList.contains('pf-match'));
    covered[k]=cov; if(m){count++; if(!cov)matched+=D.w[k];}}
  info.textContent=rx?(count+' boxes match, '+(D.w[0]?(100*matched/D.w[0]).toFixed(2):0)+'% of the width'):D.info;
});
})();
"""


def render_html(frame: pd.DataFrame, *, title: str = "", fragment: bool = True,
                min_width: float = DEFAULT_MIN_WIDTH, max_boxes: int = DEFAULT_MAX_BOXES) -> str:
    """The interactive flame graph of ``frame`` (from `flame_frame`) as HTML with inline CSS
    and JS and no external URL: click a box to zoom (click it again to step out), hover for
    values, type a regexp to highlight matches. Without JavaScript it still shows the graph,
    with values in tooltips."""
    unit, total = frame.attrs.get("unit", "count"), int(frame.attrs.get("total", 0))
    diff = bool(frame.attrs.get("diff")) or bool((frame["decrease"] > 0).any())
    colours = dict(zip(frame.index, box_colours(frame)))
    shown = _prune(frame, min_width, max_boxes)
    root_width = float(frame["width"].iloc[0]) if len(frame) and frame["width"].iloc[0] else 1.0
    positions = {box: k for k, box in enumerate(shown.index)}
    uid = "pf" + format(zlib.crc32(pd.util.hash_pandas_object(shown[["x", "width", "depth"]], index=True).values.tobytes()
                                   + title.encode()), "08x")

    boxes = []
    max_depth = int(shown["depth"].max()) if len(shown) else 0
    for row in shown.itertuples():
        tip = _tooltip(row, unit, total, diff)
        boxes.append(
            f'<div class="pf-r" data-i="{row.Index}" style="left:{row.x / root_width * 100:.4f}%;'
            f'width:{row.width / root_width * 100:.4f}%;top:{row.depth * ROW_PX}px;background:{colours[row.Index]}" '
            f'title="{html.escape(tip)}">{html.escape(row.name)}</div>'
        )
    sample_type = frame.attrs.get("sample_type", "")
    info = f"{sample_type}: total {units.scaled_label(total, unit, 'auto')}" if sample_type else ""
    data = {
        "x": shown["x"].tolist(), "w": shown["width"].tolist(), "d": shown["depth"].tolist(),
        "p": [int(p) if p in positions else -1 for p in shown["parent"]],
        "n": shown["name"].tolist(), "info": info,
    }
    legend = ""
    if diff:
        legend = ('<span class="pf-legend"><span style="color:rgb%s">■ grew</span> '
                  '<span style="color:rgb%s">■ shrank</span> · width = increase + decrease</span>'
                  % (GROW_RGB, SHRINK_RGB))
    header = frame.attrs.get("header") or []
    head_html = (f'<div class="pf-info" style="margin:0 0 4px 0;white-space:pre-line">{html.escape(chr(10).join(header))}</div>'
                 if header and not fragment else "")
    data_json = script_json(data)
    body = (
        f'<div class="pyprofnb-flame" id="{uid}"><style>{_CSS.replace("#ID", "#" + uid).strip()}</style>'
        f'{head_html}'
        f'<div class="pf-bar"><span class="pf-title">{html.escape(title or "Flame graph")}</span>'
        f'<input class="pf-search" type="search" placeholder="search (regexp)" aria-label="search">'
        f'<button class="pf-reset" type="button">reset zoom</button>{legend}'
        f'<span class="pf-info">{html.escape(info)}</span></div>'
        f'<div class="pf-body" style="height:{(max_depth + 1) * ROW_PX}px">{"".join(boxes)}</div>'
        f'<div class="pf-tip"></div>'
        f'<script type="application/json" class="pf-data">{data_json}</script>'
        f'<script>{_JS.replace("ID", uid).strip()}</script></div>'
    )
    if fragment:
        return body
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title or 'Flame graph')}</title>"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"></head>"
        f"<body style=\"margin:12px\">{body}</body></html>\n"
    )


def _title(frame: pd.DataFrame) -> str:
    sample_type = frame.attrs.get("sample_type", "")
    diff = frame.attrs.get("diff")
    return f"Flame graph of {sample_type}" + (" (differential)" if diff else "") if sample_type else "Flame graph"


def flame_html(prof: Profile, *, fragment: bool = False, title: str | None = None,
               min_width: float = DEFAULT_MIN_WIDTH, max_boxes: int = DEFAULT_MAX_BOXES, **options) -> str:
    """A self-contained interactive flame graph page of ``prof`` (``fragment=True``: a
    ``<div>`` to embed in a notebook or another page).

    >>> Path("heap.html").write_text(flame_html(prof, sample_index="inuse_space"))
    """
    frame = flame_data(prof, **options)
    return render_html(frame, title=title or _title(frame), fragment=fragment, min_width=min_width, max_boxes=max_boxes)


def flame_text(rpt: Report) -> str:
    """Report kind "flame" as text: the HTML page (what ``pyprofnb -flame`` writes)."""
    frame = flame_frame(rpt)
    return render_html(frame, title=_title(frame), fragment=False)


# ---------------------------------------------------------------------- matplotlib

def draw_flame(frame: pd.DataFrame, ax=None, *, title: str | None = None, min_width: float = 0.002,
               max_depth: int | None = None):
    """Draw the flame graph of ``frame`` on a matplotlib Axes (a new figure when None); the
    root is at the top and callees hang below their callers. Returns the Axes."""
    import matplotlib.pyplot as plt
    from matplotlib.collections import PatchCollection
    from matplotlib.patches import Rectangle

    shown = _prune(frame, min_width, DEFAULT_MAX_BOXES)
    if max_depth is not None:
        shown = shown[shown["depth"] <= max_depth]
    depth = int(shown["depth"].max()) if len(shown) else 0
    if ax is None:
        _, ax = plt.subplots(figsize=(12, min(0.28 * (depth + 1) + 0.8, 14)))
    colours = dict(zip(frame.index, box_colours(frame)))
    root_width = float(frame["width"].iloc[0]) if len(frame) and frame["width"].iloc[0] else 1.0
    patches, faces = [], []
    fig_width_chars = ax.get_figure().get_figwidth() * ax.get_position().width * 72 / 6.2
    for row in shown.itertuples():
        x0, w = row.x / root_width, row.width / root_width
        patches.append(Rectangle((x0, -row.depth - 1), w, 0.95))
        faces.append(colours[row.Index])
        chars = int(w * fig_width_chars) - 1
        if chars >= 3:
            label = row.name if len(row.name) <= chars else row.name[: chars - 1] + "…"
            ax.text(x0 + 0.003, -row.depth - 0.52, label, va="center", ha="left", fontsize=7, clip_on=True)
    ax.add_collection(PatchCollection(patches, facecolor=faces, edgecolor="white", linewidth=0.5))
    ax.set_xlim(0, 1)
    ax.set_ylim(-depth - 1.05, 0.05)
    ax.set_yticks([])
    ax.set_xticks([])
    for side in ("top", "right", "left", "bottom"):
        ax.spines[side].set_visible(False)
    ax.set_title(title if title is not None else _title(frame), loc="left", fontsize=10)
    if frame.attrs.get("diff") or (frame["decrease"] > 0).any():
        from matplotlib.patches import Patch

        ax.legend(handles=[Patch(color=np.array(GROW_RGB) / 255, label="grew"),
                           Patch(color=np.array(SHRINK_RGB) / 255, label="shrank")],
                  # above the boxes, right of the title: a legend inside would cover boxes
                  loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=2, fontsize=8, frameon=False,
                  borderaxespad=0.2)
    return ax


# ---------------------------------------------------------------------- folded stacks

def folded_frame(rpt: Report) -> pd.DataFrame:
    """Brendan Gregg's folded stacks: one row per distinct stack (root first, ';'-joined)
    with its value; what flamegraph.pl and speedscope read."""
    frame = flame_frame(rpt)
    names = frame["name"].to_numpy()
    parent = frame["parent"].to_numpy()
    paths = [""] * len(frame)
    for i in range(1, len(frame)):  # parents come before children (ids grow with depth)
        p = parent[i]
        paths[i] = names[i] if p <= 0 else paths[p] + ";" + names[i]
    rows = frame.assign(stack=paths).iloc[1:]
    rows = rows[rows["self"] != 0]
    out = pd.DataFrame({"stack": rows["stack"].to_numpy(), "value": rows["self"].to_numpy()})
    out = out.sort_values("stack", kind="stable").reset_index(drop=True)
    out.attrs.update(unit=rpt.sample_unit, sample_type=rpt.sample_type, total=rpt.total)
    return out


def folded_text(rpt: Report) -> str:
    frame = folded_frame(rpt)
    return "".join(f"{s} {v}\n" for s, v in zip(frame["stack"], frame["value"]))


def _register() -> None:
    from . import _FRAMES, _TEXTS, register

    register("flame", frame=flame_frame, text=flame_text)
    if "folded" not in _FRAMES and "folded" not in _TEXTS:  # the reports module may own it
        register("folded", frame=folded_frame, text=folded_text)


_register()

__all__ = ["box_colours", "draw_flame", "flame_data", "flame_frame", "flame_html", "flame_text", "package_of",
           "render_html"]
