"""Where the bundled data lives: ``rules/`` and ``static/``.

A wheel carries them inside the package as ``gateway/_data/``; a source checkout (or an
editable install) has them beside the package. Either way callers get a real directory.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _data_dir(name: str) -> Path:
    for candidate in (_PACKAGE / "_data" / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"consent-gateway is installed without its {name}/ directory")


def rules_dir() -> Path:
    """The built-in rule database."""
    return _data_dir("rules")


def static_dir() -> Path:
    """The banner's static assets."""
    return _data_dir("static")
