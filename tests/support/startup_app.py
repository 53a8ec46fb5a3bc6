"""An app for a subprocess uvicorn (``tests.support.startup_app:app``): it builds a structure in its
startup handler and reports whether the garbage collector still walks it. Settings come
from ``CONSENT_GATEWAY_*``."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gateway import ConsentMiddleware, Settings

built: dict[str, Any] = {}


@asynccontextmanager
async def lifespan(_: Starlette) -> AsyncIterator[None]:
    cache: dict[str, Any] = {"rows": [[i] for i in range(1000)]}
    cache["self"] = cache  # a cycle, as caches and pools have
    built["cache"] = cache
    yield


async def walked(_: Request) -> JSONResponse:
    cache = built["cache"]
    return JSONResponse(
        {
            "walked": any(item is cache for item in gc.get_objects()),
            "frozen": gc.get_freeze_count(),
        }
    )


app = ConsentMiddleware(
    Starlette(routes=[Route("/walked", walked)], lifespan=lifespan), Settings.load()
)
