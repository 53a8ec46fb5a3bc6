"""The npm packages in ``tests/js`` (``npm ci --prefix tests/js``), used by the browser tests
and by the server-side clients Node runs."""

from __future__ import annotations

from pathlib import Path

NODE_MODULES = Path(__file__).resolve().parents[1] / "js" / "node_modules"


def node_module(relative: str) -> Path:
    """A file of an npm package installed in tests/js; a clear error when it is not."""
    path = NODE_MODULES / relative
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run `npm ci --prefix tests/js`")
    return path
