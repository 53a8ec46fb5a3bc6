"""``consent-gateway demo``: the gateway in front of the bundled demo site."""

from __future__ import annotations

import argparse
import secrets
import sys

from starlette.types import ASGIApp

from gateway.cli.command import Commands, add_config
from gateway.settings import Settings


def add(commands: Commands) -> None:
    demo = commands.add_parser("demo", help="serve the demo site behind the gateway")
    add_config(demo)
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8000)
    demo.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from gateway.demo.site import DEMO_SITE_RULES, create_demo_app
    from gateway.middleware import ConsentMiddleware
    from gateway.proxy.access_log import AccessLog
    from gateway.server import run as serve_until_stopped
    from gateway.server import serve_options

    settings = Settings.load(args.config)
    overrides: dict[str, object] = {}
    if not settings.secret:
        overrides["secret"] = [secrets.token_urlsafe(32)]
        print(
            "WARNING: no secret configured (CONSENT_GATEWAY_SECRET or `secret` in the settings "
            "file). Using a random development secret: every restart forgets all consent "
            "choices. Never run like this in production.",
            file=sys.stderr,
        )
    if not settings.cookies:
        overrides["cookies"] = DEMO_SITE_RULES
    if "freeze_startup_objects" not in settings.model_fields_set:
        overrides["freeze_startup_objects"] = True  # the process is the gateway's own
    settings = settings.model_copy(update=overrides)
    app: ASGIApp = ConsentMiddleware(create_demo_app(), settings)
    # Served as ``serve`` serves: the gateway's access log (addresses truncated) in place of
    # uvicorn's, and SIGTERM drains the requests in flight, then exits 0.
    log = AccessLog.from_settings(settings)
    if log is not None:
        app = log.around(app)
    print(f"consent-gateway: demo site on http://{args.host}:{args.port}/", file=sys.stderr)
    server = serve_options(settings.max_header_bytes)
    return serve_until_stopped(uvicorn.Config(app, host=args.host, port=args.port, **server))
