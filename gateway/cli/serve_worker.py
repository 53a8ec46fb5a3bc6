"""What each worker process of ``consent-gateway serve --workers N`` imports: uvicorn starts
workers as new processes, which find the app and the protocol by their import strings."""

from __future__ import annotations

import os

from starlette.types import ASGIApp

from gateway.cli.serve import WORKER_CONFIG, build, checked
from gateway.server import BoundedHttpToolsProtocol
from gateway.settings import Settings


class WorkerProtocol(BoundedHttpToolsProtocol):
    """The bounded request heads of ``gateway.server``, with the settings' limit
    (``worker_app`` sets it before the worker accepts a connection)."""


def worker_app() -> ASGIApp:
    """The app of one worker: the settings read again from the same file and environment."""
    settings = checked(Settings.load(os.environ.get(WORKER_CONFIG)))
    WorkerProtocol.max_head_bytes = settings.max_header_bytes
    return build(settings)
