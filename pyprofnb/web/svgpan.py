"""Call graphs that pan and zoom: the SVG written by ``-svg``/``-web`` carries the
svg-pan-zoom script as go tool pprof's carries SVGPan (wheel to zoom, drag to pan,
double-click to zoom in), and notebooks show the graph in a small page with fit/zoom buttons.
"""
from __future__ import annotations

import re

from .page import asset

_SIZE = re.compile(r'<svg\b([^>]*?)\swidth="[^"]*"\s+height="[^"]*"')

# Start no smaller than 0.85 of Graphviz's size, so 8-point labels stay readable; centred
# on the top, where the root is.
_START = """
function ppStart(svg){
  var pz=svgPanZoom(svg,{zoomEnabled:true,controlIconsEnabled:%(controls)s,fit:true,center:true,minZoom:0.05,maxZoom:40,
    zoomScaleSensitivity:0.25});
  var s=pz.getSizes();
  if(s&&s.realZoom<0.85){pz.zoom(pz.getZoom()*0.85/s.realZoom);var t=pz.getSizes();
    pz.pan({x:(t.width-t.viewBox.width*t.realZoom)/2,y:8});}
  return pz;
}
"""


def _svg_body(svg: str) -> str:
    start = svg.find("<svg")
    return svg[start:] if start >= 0 else svg


def pannable_svg(svg: str) -> str:
    """A Graphviz SVG document that fills the browser window and pans/zooms by itself."""
    head, body = svg[:svg.find("<svg")] if "<svg" in svg else "", _svg_body(svg)
    body = _SIZE.sub(r'<svg\1 width="100%" height="100%"', body, count=1)
    script = (asset("svg-pan-zoom.min.js") + _START % {"controls": "true"}
              + "\nwindow.addEventListener('load',function(){ppStart(document.documentElement);});\n")
    script = script.replace("]]>", "]]]]><![CDATA[>")
    end = body.rfind("</svg>")
    return head + body[:end] + f'<script type="text/javascript"><![CDATA[\n{script}]]></script>\n' + body[end:]


def pannable_svg_page(svg: str, title: str = "call graph") -> str:
    """An HTML page showing ``svg`` full-window with pan, zoom and fit buttons."""
    body = _SIZE.sub(r"<svg\1", _svg_body(svg), count=1)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{title}</title><style>html,body{{margin:0;height:100%;overflow:hidden;font:12px sans-serif}}"
        "#bar{position:absolute;top:4px;left:4px;z-index:2}#bar button{font:inherit;padding:1px 8px;margin-right:2px}"
        "#g{position:absolute;inset:0}#g svg{width:100%;height:100%}</style></head><body>"
        '<div id="bar"><button id="fit" type="button">fit</button><button id="zi" type="button">+</button>'
        '<button id="zo" type="button">&minus;</button></div>'
        f'<div id="g">{body}</div>'
        "<script>" + asset("svg-pan-zoom.min.js").replace("</script", "<\\/script") + _START % {"controls": "false"}
        + "var pz=ppStart(document.querySelector('#g svg'));"
        "document.getElementById('fit').onclick=function(){pz.resize();pz.fit();pz.center();};"
        "document.getElementById('zi').onclick=function(){pz.zoomIn();};"
        "document.getElementById('zo').onclick=function(){pz.zoomOut();};"
        "window.addEventListener('resize',function(){pz.resize();});</script></body></html>\n"
    )


__all__ = ["pannable_svg", "pannable_svg_page"]
