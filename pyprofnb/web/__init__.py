"""go tool pprof's web UI (``pyprofnb -http=HOST:PORT SOURCE...``), and the same views as one
self-contained page for notebooks.

    >>> from pyprofnb.web import Session, serve
    >>> serve(Session(["http://127.0.0.1:4000/debug/pprof/heap"]), "127.0.0.1:8080")

Every view is a rendering of the same report DataFrames (`pyprofnb.report`): `views` makes
the fragments, `page` the page around them, `server` serves them, `embed` puts every view of
a profile in one page (what the notebook shows).
"""
from .embed import embedded_page
from .server import Session, WebServer, serve
from .state import VIEWS, ViewState

__all__ = ["Session", "VIEWS", "ViewState", "WebServer", "embedded_page", "serve"]
