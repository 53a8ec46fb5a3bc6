"""Turn an Open Cookie Database CSV (downloaded by the site owner) into a site rules file.

Category mapping: "Analytics" -> analytics, "Marketing" -> marketing, "Personalization" ->
preferences, "Security" and "Necessary" -> essential, and "Functional" -> essential: in the
OCD, Functional holds mostly session, load-balancing and CSRF cookies that a site cannot work
without; the few preference cookies among them can be overridden by a site rule. Wildcard rows
store a name prefix and become ``match = "prefix"`` rules.

The OCD leaves the Domain column empty for cookies that land on the site's own domain and
fills it in (``.linkedin.com``, ``facebook.com (3rd party)``) for cookies set on the vendor's:
a row with anything there becomes a rule with ``domain``, which never classifies a cookie of
the site (Instagram's ``sessionid`` is not Django's). Prefixes shorter than three characters
are not imported: in the OCD each such row (``_s``, ``SR``, ``P_``...) is a fragment that
starts other vendors' names too.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from gateway.rules import cookie_name_problem

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
    "Domain",
    "Description",
    "Retention period",
    "User Privacy & GDPR Rights Portals",
    "Wildcard match",
)
# Every two-character wildcard row of the OCD starts other vendors' names ("_s" 45 of them,
# Shopify's and Rails' sessions among them); from three characters on, none does.
MIN_PREFIX = 3
# "(3rd party)" notes and "or" between alternatives; the rest of a Domain value is hosts.
_DOMAIN_NOISE = re.compile(r"\(3rd party\)|(?<!\S)or(?!\S)", re.IGNORECASE)


@dataclass(frozen=True)
class ImportReport:
    vendors: int
    cookies: int
    skipped: list[tuple[int, str]] = field(default_factory=list)
    third_party: int = 0


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
    seen: set[tuple[str, str, str]] = set()
    skipped: list[tuple[int, str]] = []
    count = third_party = 0
    for row in reader:
        line = reader.line_num
        name = (row["Cookie / Data Key name"] or "").strip()
        category = CATEGORIES.get((row["Category"] or "").strip().lower())
        match = "prefix" if (row["Wildcard match"] or "").strip() == "1" else "exact"
        domain = vendor_domain(row["Domain"] or "")
        problem = cookie_name_problem(name)
        if category is None:
            skipped.append((line, f"unknown category {row['Category']!r}"))
            continue
        if problem is not None:
            skipped.append((line, f"{name!r} cannot be a cookie name: it {problem}"))
            continue
        if match == "prefix" and len(name) < MIN_PREFIX:
            skipped.append((line, f"prefix {name!r} is too short to tell its vendor's cookies"))
            continue
        if (name, match, domain) in seen:
            skipped.append((line, f"duplicate {match} rule {name!r}"))
            continue
        seen.add((name, match, domain))
        platform = (row["Platform"] or "Unknown").strip()
        portal = (row["User Privacy & GDPR Rights Portals"] or "").strip()
        docs, cookies = vendors.setdefault(
            platform, (portal if portal.startswith("http") else "", [])
        )
        cookie = {
            "name": name,
            "match": match,
            "category": category,
            "retention": (row["Retention period"] or "unknown").strip(),
            "purpose": (row["Description"] or "").strip(),
        }
        if domain:
            cookie["domain"] = domain
            third_party += 1
        cookies.append(_inline_table(cookie))
        count += 1
    toml = [
        "# Imported from the Open Cookie Database (Apache-2.0) by consent-gateway.\n"
        "# A database, not this site's list: the cookie declaration lists a rule once the\n"
        "# site is seen to use its cookie, as it does the built-in rules.\n"
        'declare = "when-seen"\n'
    ]
    for platform, (docs, cookies) in vendors.items():
        toml.append(_vendor(platform, docs, cookies))
    return "\n".join(toml), ImportReport(len(vendors), count, skipped, third_party)


def vendor_domain(column: str) -> str:
    """The host(s) an OCD Domain value names, as ``a.com or b.com``; ``""`` when blank.

    The column is free text: ``.linkedin.com``, ``facebook.com (3rd party)``, ``.bing.com
    (3rd party) or .microsoft.com (3rd party)``, ``ads-[account].adhese.com``, and stray
    invisible characters; leading and trailing dots go, placeholders stay.
    """
    visible = "".join(" " if c.isspace() else c for c in column if c.isspace() or c.isprintable())
    hosts = [host.strip(".").lower() for host in _DOMAIN_NOISE.sub(" ", visible).split()]
    return " or ".join(host for host in hosts if host) or visible.strip()


def _vendor(name: str, docs: str, cookies: Iterable[str]) -> str:
    lines = ["[[vendor]]", f"name = {toml_string(name)}"]
    if docs:
        lines.append(f"docs = {toml_string(docs)}")
    lines.append("cookies = [")
    lines.extend(f"  {cookie}," for cookie in cookies)
    lines.append("]\n")
    return "\n".join(lines)


def _inline_table(values: dict[str, str]) -> str:
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
