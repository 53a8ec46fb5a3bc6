"""``consent-gateway serve --upstream URL``: the gateway as a reverse proxy in front of a
site written in anything (``gateway.proxy``)."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from typing import Any

from starlette.types import ASGIApp

from gateway.cli.command import Commands, add_config
from gateway.settings import ENV_PREFIX, Settings

WORKER_CONFIG = "CONSENT_GATEWAY_SERVE_CONFIG"  # the settings file, for worker processes


def add(commands: Commands) -> None:
    serve = commands.add_parser("serve", help="serve a site behind the gateway (reverse proxy)")
    add_config(serve)
    serve.add_argument(
        "--upstream",
        action="append",
        help="the site's URL, http://app:8080 (repeat for several; default: the settings' "
        "`upstream`, CONSENT_GATEWAY_UPSTREAM)",
    )
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1, help="worker processes")
    serve.set_defaults(run=run)


def build(settings: Settings) -> ASGIApp:
    """The ASGI app ``serve`` runs: the middleware around the proxy, ready (``/_consent/ready``)
    when an upstream accepts connections too, an upstream's failure mid-response answered
    where the client's side is known (``upstream_faults``), and the access log around all."""
    from gateway.middleware import ConsentMiddleware
    from gateway.proxy import ProxyApp
    from gateway.proxy.access_log import AccessLog
    from gateway.proxy.faults import upstream_faults

    proxy = ProxyApp.from_settings(settings)
    log = AccessLog.from_settings(settings)
    app = ConsentMiddleware(proxy if log is None else log.upstream(proxy), settings)
    app.gateway.readiness_checks["upstream"] = proxy.upstreams.reachable
    app.gateway.reload_on_hangup = True
    if threading.current_thread() is threading.main_thread():
        # Until the gateway starts and handles it, SIGHUP is ignored, not the end of the
        # process: the rules it is about to read are the new ones anyway.
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
    if log is not None:
        app.gateway.rules_listeners.append(log.use_rules)
    guarded = upstream_faults(app)
    return guarded if log is None else log.around(guarded)


def settings_for(args: argparse.Namespace) -> Settings:
    """The settings with the command line's upstream, checked as a server needs them."""
    overrides: dict[str, Any] = {}
    if args.upstream:
        overrides["upstream"] = args.upstream
    return checked(Settings.load(args.config, **overrides))


def checked(settings: Settings) -> Settings:
    """``settings`` as ``serve`` runs them: an upstream and a secret required, and the
    startup objects frozen unless the settings say otherwise (the process is the gateway's
    own)."""
    if not settings.upstream:
        raise ValueError("no upstream: pass --upstream http://app:8080 or set `upstream`")
    if not settings.secret:
        raise ValueError(
            "the consent cookie needs a signing secret: set `secret` in the settings or "
            "CONSENT_GATEWAY_SECRET"
        )
    if "freeze_startup_objects" not in settings.model_fields_set:
        settings = settings.model_copy(update={"freeze_startup_objects": True})
    return settings


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from gateway.server import run as serve_until_stopped
    from gateway.server import serve_options

    settings = settings_for(args)
    print(
        f"consent-gateway: http://{args.host}:{args.port}/ -> {', '.join(settings.upstream)}",
        file=sys.stderr,
    )
    server = serve_options(settings.max_header_bytes)
    if args.workers > 1:
        # Each worker process builds its own gateway, reading the same settings file and
        # environment (the upstream of the command line passed on through it).
        os.environ[ENV_PREFIX + "UPSTREAM"] = ",".join(settings.upstream)
        if args.config is not None:
            os.environ[WORKER_CONFIG] = str(args.config.resolve())
        server["http"] = "gateway.cli.serve_worker:WorkerProtocol"
        config = uvicorn.Config(
            "gateway.cli.serve_worker:worker_app",
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            **server,
        )
    else:
        config = uvicorn.Config(build(settings), host=args.host, port=args.port, **server)
    return serve_until_stopped(config)
