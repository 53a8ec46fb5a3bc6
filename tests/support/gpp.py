"""GPP strings written and read by the IAB's own library, ``@iabgpp/cmpapi`` from the npm
registry, through ``gpp_strings.js`` in Node (``npm ci --prefix tests/js``)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from tests.support.js import NODE_MODULES

SCRIPT = Path(__file__).resolve().parent / "gpp_strings.js"


def _node(*args: str, stdin: str | None = None) -> str:
    if not (NODE_MODULES / "@iabgpp" / "cmpapi").is_dir():
        raise FileNotFoundError("@iabgpp/cmpapi is missing: run `npm ci --prefix tests/js`")
    done = subprocess.run(
        ["node", str(SCRIPT), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env={**os.environ, "NODE_PATH": str(NODE_MODULES)},
        check=True,
        timeout=120,
    )
    return done.stdout


def library_strings(seed: int, count: int) -> list[dict[str, Any]]:
    """``count`` random usnat/uspv1 choices: ``{"string": ..., "library": <decoded>}`` each."""
    return [json.loads(line) for line in _node("generate", str(seed), str(count)).splitlines()]


def library_decode(strings: list[str]) -> list[dict[str, Any]]:
    """What the library reads in each string, ``{"error": ...}`` where it refuses it."""
    decoded: list[dict[str, Any]] = json.loads(_node("decode", stdin=json.dumps(strings)))
    return decoded
