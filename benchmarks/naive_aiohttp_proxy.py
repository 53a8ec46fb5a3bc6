"""A reverse proxy written the obvious way with aiohttp, for scale in ``bench_proxy.py
--with-naive``: an ``aiohttp.web`` server (on uvloop, as the gateway) forwarding each
request through one pooled ``ClientSession`` and answering the whole body it read (as
encoded).

    python benchmarks/naive_aiohttp_proxy.py PORT UPSTREAM_URL
"""

from __future__ import annotations

import asyncio
import sys

import uvloop
from aiohttp import ClientSession, web

HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


def main() -> None:
    port, upstream = int(sys.argv[1]), sys.argv[2]

    async def forward(request: web.Request) -> web.Response:
        session: ClientSession = request.app["session"]
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP}
        async with session.request(
            request.method,
            upstream + request.path_qs,
            headers=headers,
            data=await request.read(),
            auto_decompress=False,
        ) as response:
            body = await response.read()
            out = {k: v for k, v in response.headers.items() if k.lower() not in HOP}
            return web.Response(status=response.status, headers=out, body=body)

    async def session(app: web.Application):  # type: ignore[no-untyped-def]
        app["session"] = ClientSession()
        yield
        await app["session"].close()

    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())  # the loop the gateway runs on
    app = web.Application()
    app.cleanup_ctx.append(session)
    app.router.add_route("*", "/{tail:.*}", forward)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


if __name__ == "__main__":
    main()
