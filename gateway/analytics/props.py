"""Custom properties of events (Plausible ``props``, Umami ``data``): free-form, so they are
checked like URL parameters: names that carry personal data, values that look like an
e-mail address and (without marketing consent) click ids are removed; URL values are
scrubbed like page URLs."""

from __future__ import annotations

from typing import Any

from gateway.analytics.redact import Redactor

MAX_PROPERTIES = 100


def scrub_properties(
    redactor: Redactor, props: dict[str, Any], marketing: bool
) -> tuple[dict[str, Any], int]:
    """The properties fit to forward, and how many were removed or changed."""
    kept: dict[str, Any] = {}
    changed = 0
    for key, value in list(props.items())[:MAX_PROPERTIES]:
        text = value if isinstance(value, str) else ""
        if not redactor.keep_parameter(str(key), text, marketing):
            changed += 1
            continue
        if text.startswith(("http://", "https://")):
            scrubbed = redactor.url(text, marketing)
            changed += scrubbed != text
            value = scrubbed
        kept[key] = value
    return kept, changed + max(0, len(props) - MAX_PROPERTIES)
