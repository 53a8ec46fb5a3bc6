"""``consent-gateway forward``: the analytics outbox's forwarder as a process of its own."""

from __future__ import annotations

import argparse

from gateway.cli.command import Commands, add_config
from gateway.settings import Settings


def add(commands: Commands) -> None:
    forward = commands.add_parser(
        "forward", help='forward the analytics outbox (with analytics.forwarder = "separate")'
    )
    add_config(forward)
    forward.add_argument(
        "--metrics-port", type=int, help="serve Prometheus metrics on this port (default: off)"
    )
    forward.add_argument("--metrics-host", default="127.0.0.1", help="address for the metrics")
    forward.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from gateway.analytics.standalone import run as run_forwarder

    return run_forwarder(
        Settings.load(args.config), metrics_host=args.metrics_host, metrics_port=args.metrics_port
    )
