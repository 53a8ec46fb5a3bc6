"""The consent banner's assets, and the tags that load it into a page.

``banner.js`` and ``banner.css`` from ``static/consent-banner/`` are served under the API
prefix twice: at content-hashed URLs (``banner.<hash>.js``, cached for a year as immutable),
which the tags inserted into pages use, and at stable URLs (``banner.js``) for the embed
snippet on pages not behind the gateway (cached briefly, revalidated with a strong ETag).

``snippet()`` gives what the middleware inserts into an HTML page: for ``<head>`` the
stylesheet and the deferred script, which carries the visitor's consent state so the banner
needs no request on page load; for ``<body>`` a no-script form that posts the choice.
"""

from __future__ import annotations

import hashlib
import html
import json
from dataclasses import dataclass
from pathlib import Path

from starlette.responses import Response

from gateway.consent import ConsentState
from gateway.resources import static_dir

IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "public, max-age=300, must-revalidate"
MEDIA_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}


@dataclass(frozen=True, slots=True)
class Snippet:
    """The bytes inserted into one HTML page."""

    head: bytes  # right after <head ...> (see gateway/html.py for the fallbacks)
    body: bytes  # right after <body ...>; may be empty


@dataclass(frozen=True, slots=True)
class Asset:
    """One served file: its bytes, type and validators."""

    body: bytes
    media_type: str
    etag: str  # strong: the content hash
    hashed_name: str  # banner.<hash>.js


class Banner:
    """The banner's files, loaded and hashed once at start-up."""

    def __init__(self, api_prefix: str, assets: dict[str, Asset]) -> None:
        self.api_prefix = api_prefix
        self._assets = assets
        self._routes: dict[str, tuple[Asset, str]] = {}
        for name, asset in assets.items():
            self._routes["/" + name] = (asset, REVALIDATE)
            self._routes["/" + asset.hashed_name] = (asset, IMMUTABLE)

    @classmethod
    def load(cls, api_prefix: str, directory: Path | None = None) -> Banner:
        """The assets in ``directory`` (default: the bundled ``static/consent-banner``)."""
        directory = directory or static_dir() / "consent-banner"
        assets: dict[str, Asset] = {}
        for name in ("banner.js", "banner.css"):
            path = directory / name
            try:
                body = path.read_bytes()
            except OSError as error:
                raise ValueError(f"{path}: cannot read the banner asset ({error})") from None
            digest = hashlib.sha256(body).hexdigest()[:16]
            stem, suffix = name.rsplit(".", 1)
            assets[name] = Asset(
                body=body,
                media_type=MEDIA_TYPES["." + suffix],
                etag=f'"{digest}"',
                hashed_name=f"{stem}.{digest}.{suffix}",
            )
        return cls(api_prefix, assets)

    def url(self, name: str) -> str:
        """The content-hashed URL of ``banner.js`` or ``banner.css``."""
        return f"{self.api_prefix}/{self._assets[name].hashed_name}"

    def response(self, route: str, if_none_match: str | None) -> Response | None:
        """The answer for ``route`` (the path after the API prefix), or None if it is not
        an asset; 304 when the browser's copy is current."""
        found = self._routes.get(route)
        if found is None:
            return None
        asset, cache_control = found
        headers = {"cache-control": cache_control, "etag": asset.etag}
        if if_none_match is not None and asset.etag in {
            tag.strip() for tag in if_none_match.split(",")
        }:
            return Response(status_code=304, headers=headers)
        return Response(asset.body, media_type=asset.media_type, headers=headers)

    def snippet(self, state: ConsentState, nonce: str | None) -> Snippet:
        """The tags for a page served to a visitor in ``state``; ``nonce`` is the page's
        CSP script nonce, carried by every inserted script."""
        nonce_attribute = f' nonce="{html.escape(nonce)}"' if nonce else ""
        data = html.escape(json.dumps(public_state(state), separators=(",", ":")))
        head = (
            f'<link rel="stylesheet" href="{self.url("banner.css")}">'
            f'<script src="{self.url("banner.js")}" defer{nonce_attribute}'
            f' data-api="{self.api_prefix}" data-state="{data}"></script>'
        )
        return Snippet(head=head.encode(), body=b"")


def public_state(state: ConsentState) -> dict[str, object]:
    """What the page may know of the visitor's consent: no id and no time, so one page
    serves every visitor with the same choice (and caches see few variants)."""
    return {
        "decided": state.decided,
        "source": state.source.value,
        "regime": state.regime.value,
        "policy_version": state.policy_version,
        "gpc": state.gpc,
        "categories": state.categories(),
    }
