"""A reverse proxy written the obvious way with httpx, for scale in ``bench_proxy.py
--with-naive``: an ASGI app under uvicorn (uvloop, httptools, as ``serve`` runs)
forwarding each request through one pooled ``httpx.AsyncClient`` and answering the whole
body it read (as encoded).

    python benchmarks/naive_httpx_proxy.py PORT UPSTREAM_URL
"""

from __future__ import annotations

import sys
from typing import Any

import httpx
import uvicorn

HOP = {b"connection", b"keep-alive", b"transfer-encoding", b"content-length", b"host"}


def main() -> None:
    port, upstream = int(sys.argv[1]), sys.argv[2]
    client = httpx.AsyncClient(base_url=upstream, limits=httpx.Limits(max_connections=None))

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body, more = b"", True
        while more:
            message = await receive()
            body, more = body + message.get("body", b""), message.get("more_body", False)
        headers = [(n, v) for n, v in scope["headers"] if n not in HOP]
        url = scope["raw_path"] + (b"?" + scope["query_string"] if scope["query_string"] else b"")
        request = client.build_request(scope["method"], url.decode(), headers=headers, content=body)
        response = await client.send(request, stream=True)
        content = b"".join([piece async for piece in response.aiter_raw()])  # as encoded
        out = [(n, v) for n, v in response.headers.raw if n.lower() not in HOP]
        out.append((b"content-length", b"%d" % len(content)))
        await send({"type": "http.response.start", "status": response.status_code, "headers": out})
        await send({"type": "http.response.body", "body": content})

    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        access_log=False,
        log_level="warning",
        loop="uvloop",
        http="httptools",
        lifespan="off",
    )


if __name__ == "__main__":
    main()
