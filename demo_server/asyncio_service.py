"""An asyncio service of our own, no web framework: a line protocol on asyncio streams, with
/debug/pprof on a background debug server (the one line such a service adds).

    python -m demo_server.asyncio_service --port 4002 --debug-port 6060

Each connection is handled by a task named after the client ("conn-<port>"); each request
line ``N`` makes the handler run two named tasks: ``price-<N>`` (sleeps 5 ms, hashes 800*N
rounds) and ``audit`` (sleeps 10 ms, hashes 200 rounds), then answers their checksums.
"""
from __future__ import annotations

import argparse
import asyncio
import hashlib

import pyprofnb.http


def checksum(rounds: int) -> str:
    digest = b"pyprofnb"
    for _ in range(rounds):
        digest = hashlib.sha256(digest).digest()
    return digest.hex()[:16]


async def price(n: int) -> str:
    await asyncio.sleep(0.005)
    return checksum(800 * n)


async def audit() -> str:
    await asyncio.sleep(0.01)
    return checksum(200)


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    asyncio.current_task().set_name(f"conn-{writer.get_extra_info('peername')[1]}")
    while line := await reader.readline():
        n = max(1, min(int(line.strip() or 1), 10))
        results = await asyncio.gather(asyncio.create_task(price(n), name=f"price-{n}"),
                                       asyncio.create_task(audit(), name="audit"))
        writer.write((" ".join(results) + "\n").encode())
        await writer.drain()
    writer.close()


async def main(host: str, port: int, debug_port: int) -> None:
    server = await asyncio.start_server(handle, host, port)
    debug = pyprofnb.http.start_debug_server(f"{host}:{debug_port}")
    print(f"listening on {debug.url}", flush=True)  # the debug server's URL: what a profiler wants
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4002)
    parser.add_argument("--debug-port", type=int, default=0, help="/debug/pprof's port (0: any free one)")
    args = parser.parse_args()
    asyncio.run(main(args.host, args.port, args.debug_port))
