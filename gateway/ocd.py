"""Turn an Open Cookie Database CSV (downloaded by the site owner) into a site rules file.

Category mapping: "Analytics" -> analytics, "Marketing" -> marketing, "Personalization" ->
preferences, "Security" and "Necessary" -> essential, and "Functional" -> essential: in the
OCD, Functional holds mostly session, load-balancing and CSRF cookies that a site cannot work
without; the few preference cookies among them can be overridden by a site rule. Wildcard rows
store a name prefix and become ``match = "prefix"`` rules.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

CATEGORIES = {
    "analytics": "analytics",
    "marketing": "marketing",
    "personalization": "preferences",
    "security": "essential",
    "necessary": "essential",
    "functional": "essential",
}
COLUMNS = (
    "Platform",
    "Category",
    "Cookie / Data Key name",
    "Description",
    "Retention period",
    "User Privacy & GDPR Rights Portals",
    "Wildcard match",
)
_COOKIE_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


@dataclass(frozen=True)
class ImportReport:
    vendors: int
    cookies: int
    skipped: list[tuple[int, str]] = field(default_factory=list)


def import_ocd(csv_path: Path) -> tuple[str, ImportReport]:
    """The TOML text of a rules file in the ``rules/cookies`` format, and what was skipped."""
    try:
        text = csv_path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError(f"{csv_path}: not UTF-8 text; export the CSV as UTF-8") from None
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise ValueError(f"{csv_path}: not an Open Cookie Database CSV; missing {missing}")
    vendors: dict[str, tuple[str, list[str]]] = {}
    seen: set[tuple[str, str]] = set()
    skipped: list[tuple[int, str]] = []
    count = 0
    for row in reader:
        line = reader.line_num
        name = (row["Cookie / Data Key name"] or "").strip()
        category = CATEGORIES.get((row["Category"] or "").strip().lower())
        match = "prefix" if (row["Wildcard match"] or "").strip() == "1" else "exact"
        if category is None:
            skipped.append((line, f"unknown category {row['Category']!r}"))
            continue
        if not _COOKIE_NAME.fullmatch(name):
            skipped.append((line, f"{name!r} cannot be a cookie name"))
            continue
        if (name, match) in seen:
            skipped.append((line, f"duplicate {match} rule {name!r}"))
            continue
        seen.add((name, match))
        platform = (row["Platform"] or "Unknown").strip()
        portal = (row["User Privacy & GDPR Rights Portals"] or "").strip()
        docs, cookies = vendors.setdefault(
            platform, (portal if portal.startswith("http") else "", [])
        )
        cookies.append(
            _inline_table(
                name=name,
                match=match,
                category=category,
                retention=(row["Retention period"] or "unknown").strip(),
                purpose=(row["Description"] or "").strip(),
            )
        )
        count += 1
    toml = ["# Imported from the Open Cookie Database (Apache-2.0) by consent-gateway.\n"]
    for platform, (docs, cookies) in vendors.items():
        toml.append(_vendor(platform, docs, cookies))
    return "\n".join(toml), ImportReport(len(vendors), count, skipped)


def _vendor(name: str, docs: str, cookies: Iterable[str]) -> str:
    lines = ["[[vendor]]", f"name = {toml_string(name)}"]
    if docs:
        lines.append(f"docs = {toml_string(docs)}")
    lines.append("cookies = [")
    lines.extend(f"  {cookie}," for cookie in cookies)
    lines.append("]\n")
    return "\n".join(lines)


def _inline_table(**values: str) -> str:
    fields = ", ".join(f"{key} = {toml_string(value)}" for key, value in values.items())
    return "{ " + fields + " }"


def toml_string(value: str) -> str:
    """A TOML basic string holding exactly ``value``."""
    out = ['"']
    for char in value:
        if char == '"':
            out.append('\\"')
        elif char == "\\":
            out.append("\\\\")
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)
