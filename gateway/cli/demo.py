"""``consent-gateway demo``: the gateway in front of the bundled demo site."""

from __future__ import annotations

import argparse
import secrets
import sys

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
    from gateway.server import options

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
    app = ConsentMiddleware(create_demo_app(), settings.model_copy(update=overrides))
    print(f"consent-gateway: demo site on http://{args.host}:{args.port}/", file=sys.stderr)
    uvicorn.run(app, host=args.host, port=args.port, **options(settings.max_header_bytes))
    return 0
