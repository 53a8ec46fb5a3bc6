"""What every command module shares: how it adds itself to the parser."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TypeAlias

# The parser's subcommands, which each command module adds to.
Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def add_config(parser: argparse.ArgumentParser, what: str = "settings file (TOML)") -> None:
    """The ``--config`` option every command that reads the settings takes."""
    parser.add_argument("--config", type=Path, help=what)
