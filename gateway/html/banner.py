"""The consent banner's assets, and the tags that load it into a page.

The files in ``static/consent-banner/`` are minified once at start-up (rjsmin, rcssmin) and
served under the API prefix twice: at content-hashed URLs (``banner.<hash>.js``, cached for a
year as immutable), which the tags inserted into pages use, and at stable URLs
(``banner.js``) for the embed snippet on pages not behind the gateway (cached briefly,
revalidated with a strong ETag). Each file is also compressed once, with brotli and gzip at
their smallest settings, and served in the coding the client prefers (its own ETag each,
``Vary: Accept-Encoding``). The settings the script needs (privacy policy address,
translation file names, default language) are written into the served ``banner.js``, so it
needs no request for them; each translation is merged with the site's ``banner_texts`` and
served as its own hashed file, so a visitor downloads only their language.

``snippet()`` gives what the middleware inserts into an HTML page: for ``<head>`` the
stylesheet, the Consent Mode defaults when enabled (a synchronous same-origin script, which a
CSP allowing ``'self'`` lets run without a nonce) and the deferred banner script, which
carries the visitor's consent state so the banner needs no request on page load; for
``<body>`` a no-script form that posts the choice.
"""

from __future__ import annotations

import gzip
import hashlib
import html
import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import brotli
import rcssmin
import rjsmin
from starlette.responses import Response

from gateway.consent.state import OPTIONAL_CATEGORIES, Category, ConsentState
from gateway.html.content_coding import preferred
from gateway.resources import static_dir
from gateway.settings import Settings

IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "public, max-age=300, must-revalidate"
MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
}
CONFIG_TOKEN = b'"__CONFIG__"'  # in banner.js, replaced by the settings it needs


@dataclass(frozen=True, slots=True)
class Snippet:
    """The bytes inserted into one HTML page."""

    head: bytes  # right after <head ...> (see gateway/html/rewriter.py for the fallbacks)
    body: bytes  # right after <body ...>; may be empty


@dataclass(frozen=True, slots=True)
class Asset:
    """One served file: its bytes, type and validators."""

    body: bytes
    media_type: str
    etag: str  # strong: the content hash
    hashed_name: str  # banner.<hash>.js, locales/de.<hash>.json
    encoded: Mapping[str, bytes]  # the body in each coding that makes it smaller, br first


def _asset(name: str, body: bytes, hashed_name: str | None = None) -> Asset:
    digest = hashlib.sha256(body).hexdigest()[:16]
    stem, suffix = name.rsplit(".", 1)
    hashed_name = hashed_name or f"{stem}.{digest}.{suffix}"
    return Asset(body, MEDIA_TYPES["." + suffix], f'"{digest}"', hashed_name, _compressed(body))


@lru_cache(maxsize=64)
def _compressed(body: bytes) -> Mapping[str, bytes]:
    """``body`` with brotli 11 and gzip 9, where smaller: once per distinct file, however
    many gateways a process builds (brotli 11 takes about 15 ms for banner.js). An
    ``lru_cache``, not a ``Memo``: it runs when a gateway is built, never per request, and
    its keys are the gateway's own files."""
    found = {
        "br": brotli.compress(body, mode=brotli.MODE_TEXT, quality=11),
        "gzip": gzip.compress(body, 9, mtime=0),
    }
    return {coding: data for coding, data in found.items() if len(data) < len(body)}


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise ValueError(f"{path}: cannot read the banner asset ({error})") from None


def load_texts(directory: Path, settings: Settings) -> dict[str, dict[str, str]]:
    """Every language's texts: the built-in translation with the site's overrides on top,
    plus the languages only the site's ``banner_texts`` provide (complete, as validated)."""
    texts: dict[str, dict[str, str]] = {}
    for path in sorted((directory / "locales").glob("*.json")):
        try:
            texts[path.stem] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise ValueError(f"{path}: not a readable translation ({error})") from None
    for language, overrides in settings.banner_texts.items():
        texts[language] = {**texts.get(language, {}), **overrides}
    return texts


class Banner:
    """The banner's files, loaded, minified and hashed once at start-up."""

    def __init__(
        self,
        api_prefix: str,
        assets: dict[str, Asset],
        settings: Settings | None = None,
        texts: dict[str, dict[str, str]] | None = None,
        layout: Mapping[str, str] | None = None,
    ) -> None:
        self.api_prefix = api_prefix
        self.settings = settings or Settings.load(environ={})
        self._assets = assets
        self._texts = texts or {}
        self._shown = shown_hashes(self._texts, self.settings, layout or {})
        self._routes: dict[str, tuple[Asset, str]] = {}
        for name, asset in assets.items():
            self._routes["/" + name] = (asset, REVALIDATE)
            self._routes["/" + asset.hashed_name] = (asset, IMMUTABLE)

    @classmethod
    def load(
        cls, api_prefix: str, directory: Path | None = None, *, settings: Settings | None = None
    ) -> Banner:
        """The assets in ``directory`` (default: the bundled ``static/consent-banner``),
        configured by ``settings`` (default: the default settings)."""
        directory = directory or static_dir() / "consent-banner"
        settings = settings or Settings.load(environ={})
        texts = load_texts(directory, settings)
        assets: dict[str, Asset] = {}
        # One version for all translations: banner.js then names them with a single hash.
        bodies = {
            language: json.dumps({**texts[language], "lang": language}, ensure_ascii=False)
            for language in sorted(texts)
        }
        version = hashlib.sha256(json.dumps(bodies).encode()).hexdigest()[:16]
        for language, body in bodies.items():
            assets[f"locales/{language}.json"] = _asset(
                f"locales/{language}.json", body.encode(), f"locales/{language}.{version}.json"
            )
        css = rcssmin.cssmin(_read(directory / "banner.css").decode("utf-8"))
        assets["banner.css"] = _asset("banner.css", css.encode())
        mode = rjsmin.jsmin(_read(directory / "consent-mode.js").decode("utf-8"))
        assets["consent-mode.js"] = _asset("consent-mode.js", mode.encode())
        script = rjsmin.jsmin(_read(directory / "banner.js").decode("utf-8")).encode()
        if script.count(CONFIG_TOKEN) != 1:
            raise ValueError(f"{directory / 'banner.js'}: expected one {CONFIG_TOKEN.decode()}")
        config = {
            "l": sorted(texts),
            "v": version,
            "c": assets["banner.css"].hashed_name,
            "d": settings.default_language,
            "p": settings.privacy_policy_url or "",
            "r": settings.reopen_control,
        }
        encoded = json.dumps(config, separators=(",", ":")).encode()
        assets["banner.js"] = _asset("banner.js", script.replace(CONFIG_TOKEN, encoded))
        # What lays the banner out (its script before the settings, its style): a new
        # release that moves a button changes what a visitor was shown.
        layout = {
            "banner.js": hashlib.sha256(script).hexdigest(),
            "banner.css": assets["banner.css"].etag.strip('"'),
        }
        return cls(api_prefix, assets, settings, texts, layout)

    def configure(self, settings: Settings) -> None:
        """Rebuild the assets for ``settings``: the middleware loads the banner with the
        API prefix only, and the consent API hands it the rest of the settings."""
        if settings is self.settings:
            return
        loaded = Banner.load(self.api_prefix, settings=settings)
        self.settings, self._assets = loaded.settings, loaded._assets
        self._texts, self._routes = loaded._texts, loaded._routes
        self._shown = loaded._shown

    @property
    def languages(self) -> frozenset[str]:
        return frozenset(self._texts)

    def shown_hash(self, language: str) -> str | None:
        """The hash of the banner as a visitor saw it in ``language`` (its texts, the
        settings that shape it, its layout), which a consent record keeps; None for a
        language the banner does not have."""
        return self._shown.get(language)

    def url(self, name: str) -> str:
        """The content-hashed URL of ``banner.js``, ``banner.css`` or ``consent-mode.js``."""
        return f"{self.api_prefix}/{self._assets[name].hashed_name}"

    def asset(self, name: str) -> Asset:
        """The served bytes of one asset (``banner.js``, ``locales/de.json``...)."""
        return self._assets[name]

    def serves(self, route: str) -> bool:
        """Whether ``route`` (the path after the API prefix) is one of the files."""
        return route in self._routes

    def response(
        self, route: str, if_none_match: str | None, accept_encoding: str | None = None
    ) -> Response | None:
        """The answer for ``route`` (the path after the API prefix), or None if it is not
        an asset: in the coding ``accept_encoding`` prefers; 304 when the browser's copy (of
        that coding) is current."""
        found = self._routes.get(route)
        if found is None:
            return None
        asset, cache_control = found
        coding = preferred(accept_encoding, asset.encoded)
        etag = f'{asset.etag[:-1]}-{coding}"' if coding else asset.etag
        headers = {"cache-control": cache_control, "etag": etag, "vary": "Accept-Encoding"}
        if if_none_match is not None and etag in {tag.strip() for tag in if_none_match.split(",")}:
            return Response(status_code=304, headers=headers)
        if not coding:
            return Response(asset.body, media_type=asset.media_type, headers=headers)
        headers["content-encoding"] = coding
        return Response(asset.encoded[coding], media_type=asset.media_type, headers=headers)

    def snippet(self, state: ConsentState, nonce: str | None, *, xhtml: bool = False) -> Snippet:
        """The tags for a page served to a visitor in ``state``; ``nonce`` is the page's
        CSP nonce, carried by every inserted script and by the stylesheet link.

        The head tags are well-formed XML as well as HTML. ``xhtml`` (an
        ``application/xhtml+xml`` page) leaves out the no-script forms: XML documents
        ignore ``<noscript>``, so they would show with JavaScript on."""
        nonce_attribute = f' nonce="{html.escape(nonce)}"' if nonce else ""
        data = html.escape(json.dumps(public_state(state), separators=(",", ":")))
        head = f'<link rel="stylesheet" href="{self.url("banner.css")}"{nonce_attribute}/>'
        if self.settings.consent_mode:
            head += (
                f'<script src="{self.url("consent-mode.js")}"{nonce_attribute}'
                f' data-state="{data}"></script>'
            )
        head += (
            f'<script src="{self.url("banner.js")}" defer="defer"{nonce_attribute}'
            f' data-api="{self.api_prefix}" data-state="{data}"></script>'
        )
        body = b"" if xhtml else self._no_script(state).encode()
        return Snippet(head=head.encode(), body=body)

    def _no_script(self, state: ConsentState) -> str:
        """The choice without JavaScript: two forms (the API takes either ``all`` or one
        field per category), in the default language; a decided visitor gets them folded."""
        texts = self._texts.get(self.settings.default_language, {})

        def text(key: str) -> str:
            return html.escape(texts.get(key, key))

        action = html.escape(f"{self.api_prefix}/state")
        policy = self.settings.privacy_policy_url
        link = f' <a href="{html.escape(policy)}">{text("policy")}</a>' if policy else ""
        boxes = "".join(
            f'<label><input type="checkbox" name="{c.value}" value="on"'
            f"{' checked' if state.allows(c) else ''}> {text(c.value)}</label> "
            for c in OPTIONAL_CATEGORIES
        )
        forms = (
            f"<p><strong>{text('title')}</strong> {text('text')}{link}</p>"
            f'<form method="post" action="{action}" class="cg-btns">'
            f'<button class="cg-btn" name="all" value="accept">{text("accept")}</button>'
            f'<button class="cg-btn" name="all" value="reject">{text("reject")}</button></form>'
            f'<form method="post" action="{action}"><p>{boxes}</p>'
            f'<button class="cg-btn">{text("save")}</button></form>'
        )
        if state.decided:
            forms = f"<details><summary>{text('reopen')}</summary>{forms}</details>"
        language = html.escape(self.settings.default_language)
        return (
            f'<noscript><div class="cg cg-bar cg-nojs{" cg-done" if state.decided else ""}"'
            f' lang="{language}" dir="{html.escape(texts.get("dir", "ltr"))}"'
            f' role="region" aria-label="{text("title")}">{forms}</div></noscript>'
        )


def shown_hashes(
    texts: Mapping[str, Mapping[str, str]], settings: Settings, layout: Mapping[str, str]
) -> dict[str, str]:
    """SHA-256 (hex) per language over the canonical JSON of what that banner showed:
    the texts of the language, the categories offered, the settings that shape it and its
    layout. Worked out once per gateway, not per decision."""
    shaping = {
        "categories": [category.value for category in Category],
        "privacy_policy_url": settings.privacy_policy_url,
        "reopen_control": settings.reopen_control,
        "declared_vendors": sorted(settings.declared_vendors),
        "declare_seen_cookies": settings.declare_seen_cookies,
    }
    found = {}
    for language, strings in texts.items():
        shown = {"language": language, "texts": dict(strings), "settings": shaping}
        encoded = json.dumps(
            {**shown, "layout": dict(layout)}, sort_keys=True, separators=(",", ":")
        )
        found[language] = hashlib.sha256(encoded.encode()).hexdigest()
    return found


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
