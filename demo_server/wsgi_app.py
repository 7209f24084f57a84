"""The demo service as a Flask app, for gunicorn (or any WSGI server).

    gunicorn -w 4 demo_server.wsgi_app:app

``/sendjson`` (GET or POST) marshals the tutorial's small record to JSON; ``/checksum``
spends a few milliseconds of CPU per request. /debug/pprof is served by pyprofnb's WSGI
middleware: one line, wrapping ``app.wsgi_app``. Under gunicorn any worker answers with the
merged profile of all workers.
"""
from __future__ import annotations

import hashlib

from flask import Flask, jsonify

from pyprofnb.http.wsgi import PprofMiddleware

app = Flask(__name__)
app.wsgi_app = PprofMiddleware(app.wsgi_app)


@app.route("/sendjson", methods=["GET", "POST"])
def sendjson():
    return jsonify(name="Bill", email="bill@ardanlabs.com", age=45, tags=["gopher", "pythonista"])


@app.route("/checksum")
def checksum():
    digest = b"pyprofnb"
    for _ in range(3000):
        digest = hashlib.sha256(digest).digest()
    return jsonify(checksum=digest.hex())
