"""The rules file the admin page classifies cookies into.

One ``[[vendor]]`` table in the form of the site's rules files (``docs/rules.md``), rewritten
whole on each change: read, the name's rule replaced or added, written to a temporary file
beside it, read back by the rules loader itself, then renamed over the old one, so a reader
(this worker's ``reload_rules``, another worker's watcher) sees the old file or the new one,
never half of one.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import tomllib
from datetime import UTC, datetime
from pathlib import Path

from gateway.consent.state import Category
from gateway.cookies.rules import CookieRule, cookie_name_problem, load_site_rule_file

VENDOR = "Classified in the admin page"
RETENTION = "as the site sets it"
HEADER = (
    "# Cookies classified in consent-gateway's admin page. The gateway rewrites this file;\n"
    "# edit it by hand only while no admin page is open.\n"
)
_lock = threading.Lock()  # one writer per process; the rename keeps readers whole


class ClassifyError(ValueError):
    """A name or category the file cannot take; the message says why."""


def check(name: str, category: str) -> Category:
    """The category, when ``name`` may be classified as it; ``ClassifyError`` otherwise."""
    if len(name) > 256:
        raise ClassifyError("the cookie name is longer than 256 characters")
    problem = cookie_name_problem(name)
    if problem is not None:
        raise ClassifyError(f"the cookie name {problem}")
    try:
        return Category(category)
    except ValueError:
        expected = ", ".join(c.value for c in Category)
        raise ClassifyError(f"unknown category {category!r}; expected one of {expected}") from None


def classify(path: Path, name: str, category: str, now: datetime | None = None) -> CookieRule:
    """Write ``name`` as ``category`` into the rules file at ``path``; its rule."""
    chosen = check(name, category)
    day = (now or datetime.now(UTC)).date().isoformat()
    with _lock:
        cookies = [c for c in _cookies(path) if c.get("name") != name]
        cookies.append(
            {
                "name": name,
                "category": chosen.value,
                "retention": RETENTION,
                "purpose": f"Classified as {chosen.value} in the admin page on {day}.",
            }
        )
        cookies.sort(key=lambda cookie: str(cookie.get("name")))
        _write(path, _toml(cookies))
    found = [rule for rule in load_site_rule_file(path) if rule.name == name]
    return found[-1]


def _cookies(path: Path) -> list[dict[str, object]]:
    """The cookie tables of the file, or none when there is no file yet."""
    if not path.is_file():
        return []
    load_site_rule_file(path)  # a file the loader refuses is reported, not overwritten
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    return [dict(cookie) for vendor in data.get("vendor", []) for cookie in vendor["cookies"]]


def _toml(cookies: list[dict[str, object]]) -> str:
    lines = [HEADER, "[[vendor]]", f"name = {_string(VENDOR)}", ""]
    for cookie in cookies:
        lines.append("[[vendor.cookies]]")
        lines += [f"{key} = {_value(value)}" for key, value in cookie.items()]
        lines.append("")
    return "\n".join(lines)


def _value(value: object) -> str:
    """A rule's value as TOML: ``override`` is a boolean, the rest strings."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return _string(str(value))


def _string(value: str) -> str:
    """A TOML basic string: JSON's ASCII-only escapes are TOML's too."""
    return json.dumps(value, ensure_ascii=True)


def _write(path: Path, text: str) -> None:
    """``text`` into ``path`` atomically, after the loader accepted it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        load_site_rule_file(Path(temporary))
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
