"""The demo service as a FastAPI app, for uvicorn or gunicorn's uvicorn workers.

    uvicorn demo_server.asgi_app:app --port 4001
    gunicorn -w 4 -k uvicorn.workers.UvicornWorker demo_server.asgi_app:app

Routes: ``/sendjson`` (GET or POST) marshals the tutorial's small record to JSON, like the
stdlib demo; ``/report`` fans out to two named asyncio tasks that await a slow "backend"
(``asyncio.sleep``) and then do a little CPU work each, so the profiles have tasks to show.
/debug/pprof is served by pyprofnb's ASGI middleware: one line, `app.add_middleware`.
"""
from __future__ import annotations

import asyncio
import hashlib

from fastapi import FastAPI

from pyprofnb.http.asgi import PprofMiddleware

app = FastAPI()
app.add_middleware(PprofMiddleware)


@app.api_route("/sendjson", methods=["GET", "POST"])
async def sendjson():
    return {"name": "Bill", "email": "bill@ardanlabs.com", "age": 45, "tags": ["gopher", "pythonista"]}


def checksum(rounds: int) -> str:
    digest = b"pyprofnb"
    for _ in range(rounds):
        digest = hashlib.sha256(digest).digest()
    return digest.hex()


async def fetch_prices() -> str:
    await asyncio.sleep(0.02)  # the slow backend
    return checksum(2000)


async def fetch_stock() -> str:
    await asyncio.sleep(0.01)
    return checksum(1000)


@app.get("/report")
async def report():
    prices = asyncio.create_task(fetch_prices(), name="fetch-prices")
    stock = asyncio.create_task(fetch_stock(), name="fetch-stock")
    return {"prices": await prices, "stock": await stock}
