"""One typed ``Settings`` object, from keyword arguments, a TOML file and the environment.

Precedence, highest first: keyword arguments, ``CONSENT_GATEWAY_<KEY>`` environment variables,
the TOML file, the defaults. Everything is validated at start-up; a bad value raises
``SettingsError`` naming the key, where it came from and the expected form.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import tomllib
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from gateway.consent.adapters import ADAPTERS
from gateway.consent.adapters.base import config
from gateway.consent.state import POLICY_VERSION_PATTERN, Category, Regime
from gateway.json_input import JSONInputError, parse_json
from gateway.resources import static_dir
from gateway.settings.analytics import AnalyticsSettings
from gateway.settings.cmp import AdapterSettings, adapter_names, known_adapters

ENV_PREFIX = "CONSENT_GATEWAY_"
MAX_COOKIE_LIFETIME_DAYS = 395  # 13 months, the CNIL's and most DPAs' ceiling
MAX_TEXT_LENGTH = 2000
MIN_ADMIN_TOKEN_LENGTH = 24
# Consent sources whose mapping is a rules file of their own, not `categories`.
RULES_MAPPED_ADAPTERS = frozenset({"tcf", "gpp"})
# The adapters that read a TC string, whose purposes map by rules/tcf.toml and `purposes`.
TCF_PURPOSES_ADAPTERS = frozenset({"tcf", "didomi"})
# Texts added after a site may have written a whole language of its own: a site language
# without them still loads, and the banner leaves out what they label (the consent id).
LATER_TEXT_KEYS = frozenset({"record_id", "records"})
_LANGUAGE = re.compile(r"[a-z]{2,3}")
_GTM_CONTAINER = re.compile(r"GTM-[A-Z0-9]{4,12}")


class SettingsError(ValueError):
    """Invalid settings; the message lists every problem, one per line."""


class Settings(BaseModel):
    """Everything a site owner can set. ``docs/settings.md`` is generated from these fields
    (``scripts/settings_reference.py``): their descriptions are the reference."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    secret: list[str] = Field(
        default_factory=list,
        description="Signing secrets for the consent cookie, each at least 16 characters; "
        "required. A list rotates keys: the first signs, all verify, so put a new secret "
        "first and drop the old one once the cookies it signed have expired.",
    )
    policy_version: str = Field(
        "1",
        description="The version of your privacy policy, 1-32 letters, digits, `-` or `_`. "
        "Change it when the policy changes: earlier decisions stop counting and every "
        "visitor is asked again.",
    )
    cookie_name: str = Field(
        "cg_consent",
        pattern=r"^[A-Za-z0-9_\-]{1,64}$",
        description="Name of the consent cookie that holds the visitor's signed choice.",
    )
    cookie_lifetime_days: int = Field(
        182,
        ge=1,
        le=MAX_COOKIE_LIFETIME_DAYS,
        description="How long a decision lasts, in days, at most 395 (13 months); then the "
        "visitor is asked again.",
    )
    cookie_domain: str | None = Field(
        None,
        description="Domain of the consent cookie: `example.com` shares one decision across "
        "its subdomains. Unset, the cookie belongs to the host that served it.",
    )
    cookie_host_prefix: bool = Field(
        False,
        description="Over HTTPS, name the consent cookie `__Host-<cookie_name>` (Secure, "
        "Path=/, no Domain), which no other subdomain or path can set beside it; needs "
        "`cookie_domain` unset. HTTPS is the scheme your ASGI server reports, or, behind a TLS "
        "proxy, the one it names (`trusted_proxies`). Over plain HTTP (local development), where "
        "browsers refuse the prefix, the plain name is set. Both names are always read, and a "
        "choice saved under one expires the other, so turning this on or off keeps the "
        "visitors' choices.",
    )
    api_prefix: str = Field(
        "/_consent",
        pattern=r"^/[A-Za-z0-9_\-/]*[A-Za-z0-9_\-]$",
        description="Path under which the gateway answers the consent API, the banner's "
        "files and analytics collection; the app never sees these requests.",
    )
    default_regime: Regime = Field(
        Regime.OPT_IN,
        description="Regime for a visitor whose country is unknown (no header, no GeoIP "
        "match): `opt-in` (essential cookies only until the visitor agrees), `opt-out` "
        "(everything until the visitor refuses) or `notice` (everything allowed).",
    )
    country_header: str | None = Field(
        None,
        description="Request header with the visitor's country, set by the CDN in front: "
        "`CF-IPCountry`, `CloudFront-Viewer-Country`, `X-Vercel-IP-Country`. Set it only "
        "when that CDN is in front of every request and overwrites or strips a client's "
        "copy: otherwise any visitor picks their regime (`CF-IPCountry: US` gets everything "
        "allowed by default).",
    )
    subdivision_header: str | None = Field(
        None,
        description="Request header with the visitor's region (`CloudFront-Viewer-Country-"
        "Region`, `X-Vercel-IP-Country-Region`, `CF-Region-Code`), for regions whose law "
        "differs from their country's; trusted on the same condition as `country_header`.",
    )
    geoip_database: Path | None = Field(
        None,
        description="Path of a MaxMind-format `.mmdb` file (GeoLite2 or GeoIP2, Country or "
        "City) to look the client address up in when no header names the country (behind "
        "a proxy, see `trusted_proxies`).",
    )
    unknown_cookies: Literal["allow", "deny"] | Category = Field(
        "allow",
        description="What happens to a cookie no rule classifies: `allow` (treated as "
        "essential, so the site's own cookies keep working), `deny` (never passes), or a "
        "category it is treated as.",
    )
    cookies: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Your own cookie rules, `[[cookies]]` tables with `name`, `category`, "
        "`retention`, `purpose` and optional `match` (`exact`, `prefix`, `pattern`) and "
        "`vendor`. They win over the built-in rules and over `rule_files`.",
    )
    rule_files: list[Path] = Field(
        default_factory=list,
        description="Your own rules files in the `[[vendor]]` form of the built-in rules, such "
        "as the one `consent-gateway rules import-ocd` writes. They win over the built-in "
        "rules, but make a cookie a built-in rule calls essential non-essential only where "
        'the rule says `override = true`. A file that says `declare = "when-seen"` (an '
        "imported database) is declared only where the site uses its cookies.",
    )
    rules_reload_interval: float = Field(
        2.0,
        ge=0,
        description="Seconds between two looks at the rule files (the built-in ones, "
        "`rule_files`, `geoip_database`) by a running gateway, each worker on its own: a "
        "file whose inode, size or modification time changed makes it read every rule "
        "again, off the request path; a file that does not read is logged and the previous "
        "rules stay. 0 turns the watching off (SIGHUP to `consent-gateway serve` still "
        "reloads).",
    )
    expire_refused_cookies: bool = Field(
        True,
        description="Expire refused cookies the browser still sends, so withdrawing consent "
        "really clears them.",
    )
    database_url: str = Field(
        "sqlite:///consent-gateway.sqlite3",
        description="Where decisions (the proof of consent), the analytics outbox and the "
        "declaration's seen cookies are stored: `sqlite:///path` (relative to the working "
        "directory; `sqlite:////abs/path` for an absolute one) or `postgresql://user@host/db` "
        "(install `consent-gateway[postgres]`).",
    )
    record_retention_days: int = Field(
        365,
        ge=1,
        le=3650,
        description="How long consent records are kept, in days; the gateway deletes older "
        "ones every hour, oldest first, in batches (`consent-gateway records purge` does it "
        "at once). See [Consent records](records.md).",
    )
    metrics: bool = Field(
        False,
        description="Also serve the Prometheus metrics on the public site, at "
        "`<api_prefix>/metrics`, to anyone who asks. Prefer `metrics_listen`.",
    )
    metrics_listen: str | None = Field(
        None,
        description="Serve the Prometheus metrics at `/metrics` on an address of their own, "
        '`"127.0.0.1:9464"` (`"[::1]:9464"`), while the app runs (started by the ASGI '
        "lifespan, as `consent-gateway demo` and most servers run it).",
    )
    privacy_policy_url: str | None = Field(
        None,
        description="Your privacy policy, linked from the banner: an `https://` address or a "
        "path such as `/privacy`.",
    )
    consent_mode: bool = Field(
        False,
        description="Google Consent Mode v2: a `default` command before any Google tag (the "
        "regime's defaults, with `wait_for_update`), then an `update` on every choice, for "
        "all seven consent types.",
    )
    banner_texts: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description="The banner's texts by language, `[banner_texts.de]` with "
        '`title = "..."`: the keys of the built-in English texts. A language that is not '
        "built in needs every key.",
    )
    default_language: str = Field(
        "en",
        description="The banner's language when neither the page nor the browser names one "
        "it has; also the language of the no-JavaScript form.",
    )
    reopen_control: bool = Field(
        True,
        description='Keep a small "Privacy choices" button on screen once the visitor '
        "chose. With `false`, give your pages a `data-consent-open` link instead.",
    )
    declared_vendors: list[str] = Field(
        default_factory=list,
        description="Built-in vendors whose cookies the declaration always lists, such as "
        '`"YouTube"` for an embedded player, whose cookies live on the vendor\'s domain where '
        "the gateway never sees them (`consent-gateway classify` names the vendors).",
    )
    declare_seen_cookies: bool = Field(
        True,
        description="List in the declaration the built-in rules of the cookies seen on this "
        "site; `false` lists only your rules and `declared_vendors`.",
    )
    declare_seen_visitors: int = Field(
        3,
        ge=1,
        description="How many visitors (told apart by network) must send a cookie before "
        "its built-in rule is listed; one the site's own Set-Cookie sets is listed at once.",
    )
    allowed_origins: list[str] = Field(
        default_factory=list,
        description="Other origins (`https://www.shop.example`) whose pages may read and "
        "change the visitor's consent through the API, with CORS: the embed snippet's pages.",
    )
    consent_source: Literal["gateway"] | list[str] = Field(
        "gateway",
        description="Where the visitor's choice comes from: `\"gateway\"`, the gateway's own "
        "signed cookie and banner, or a list of adapters that read the choice the site's own "
        'consent banner (CMP) already stored in its cookies: `["cookiebot"]`, one or more of '
        + ", ".join(f"`{name}`" for name in ADAPTERS)
        + ". With adapters, the gateway's cookie is not read, the banner is not inserted "
        "(`inject_banner`), and a visitor whose CMP cookie is absent or does not read gets "
        "the regime's default. In the environment, names separated by commas. See "
        "[Consent sources](cmp/index.md).",
    )
    consent_adapters: dict[str, AdapterSettings] = Field(
        default_factory=dict,
        description="Per adapter of `consent_source`, `[consent_adapters.<name>]`: the CMP's "
        "cookie name and its categories mapped onto the gateway's, over the defaults of "
        "`rules/cmp.toml`.",
    )
    inject_banner: bool | None = Field(
        None,
        description="Insert the banner's tags into HTML pages. Unset: yes with "
        '`consent_source = "gateway"`, no with adapters (the site\'s own CMP asks; `true` '
        "is refused there: the banner's choices would go into a cookie no adapter reads).",
    )
    block_trackers: Literal["opt-in", "always", "never"] = Field(
        "opt-in",
        description="Make known trackers in HTML pages inert until their category is granted: "
        "`opt-in` for visitors under the opt-in regime, `always` for every visitor, or "
        "`never`.",
    )
    gtm_containers: dict[str, Category] = Field(
        default_factory=dict,
        description="Google Tag Manager containers you vouch for, by id, with the category "
        'each waits for: `{"GTM-ABC123" = "analytics"}`. Any other container waits for '
        "marketing, since it loads whatever its owner set up at Google, ad tags included; "
        "map one only if you control what it loads.",
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Addresses or networks (`10.0.0.0/8`) of the proxies in front whose "
        "forwarding headers (`proxy_headers`) are believed: a request from one of them is "
        "taken to come from the visitor's address, scheme and host they name, for `Secure` "
        "cookies, the API's same-origin check, analytics collection, the GeoIP look-up and "
        "telling visitors apart in the declaration.",
    )
    proxy_headers: Literal["x-forwarded", "forwarded"] = Field(
        "x-forwarded",
        description="Which headers the `trusted_proxies` write: `x-forwarded` "
        "(`X-Forwarded-For`, `-Proto`, `-Host`: nginx, HAProxy, Traefik, most load balancers) "
        "or `forwarded` (RFC 7239's `Forwarded`). Only those are read: the other kind passes "
        "through a proxy unchanged, so a client could write it.",
    )
    max_header_bytes: int = Field(
        16 * 1024,
        ge=4096,
        description="`consent-gateway demo` answers 431 to a request whose request line "
        "and headers together are larger than this, in bytes. Under a server of your own, "
        "bound the headers there.",
    )
    upstream: list[str] = Field(
        default_factory=list,
        description="For `consent-gateway serve`: the site the gateway proxies to, "
        '`"http://app:8080"` or `"https://app.internal"`, or a list of them, tried in turn (a '
        "URL that refused or timed out is skipped for 10 seconds). In the environment, URLs "
        "separated by commas. An `https://` upstream's certificate is verified (the system's "
        "CAs, or `upstream_ca_file`) for the URL's host, which is also the name sent in SNI; "
        "a failed verification or handshake is a 502.",
    )
    upstream_ca_file: Path | None = Field(
        None,
        description="For `https://` upstreams: a PEM file of the CA certificates to trust, "
        "in place of the system's: with it, only a certificate one of these CAs signed is "
        "accepted (as with nginx's `proxy_ssl_trusted_certificate` and Caddy's "
        "`tls_trusted_ca_certs`), so a private upstream's certificate cannot come from a "
        "public CA. To trust a private CA and the public ones, give a file holding both "
        "(the system's bundle, `/etc/ssl/certs/ca-certificates.crt` on Debian, followed by "
        "the private CA). There is no setting to skip verification.",
    )
    upstream_connect_timeout: float = Field(
        10.0,
        gt=0,
        description="Seconds `serve` waits for a connection to the upstream before trying "
        "the next one, or answering 502.",
    )
    upstream_read_timeout: float = Field(
        60.0,
        gt=0,
        description="Seconds `serve` waits for the upstream's next bytes (the response's "
        "head, then between two reads of its body): 504 before the response started, a "
        "truncated response after.",
    )
    upstream_keepalive: int = Field(
        32,
        ge=0,
        description="Idle connections `serve` keeps open to each upstream URL, per worker, "
        "for the next requests (nginx's `keepalive`); 0 opens one per request.",
    )
    upstream_ready_interval: float = Field(
        5.0,
        gt=0,
        description="Seconds `/_consent/ready` trusts what `serve` last learned of an "
        "upstream: an upstream that accepted a connection (a request's, or the check's own) "
        "within this time, or has an idle kept-alive one, counts as reachable without a new "
        "connection; otherwise the check opens one, at most once per upstream URL and "
        "worker in this time, however often it is asked. An upstream that went down turns "
        "readiness off within about this time.",
    )
    max_body_size: int = Field(
        100 * 1024 * 1024,
        ge=0,
        description="The largest request body `serve` passes to the upstream, in bytes "
        "(413 beyond); 0 for no limit. Bodies stream through, never held whole.",
    )
    access_log: Literal["combined", "json", "off"] = Field(
        "combined",
        description="`consent-gateway serve`'s access log on standard output, one line per "
        "request: `combined` (nginx's and Apache's format, with the upstream's status and "
        "time and the request's time appended), `json` (one object a line) or `off`. The "
        "client address is truncated as analytics truncates it (`analytics.ipv4_prefix`, "
        "`ipv6_prefix`), the query strings of the request and the referrer lose the "
        "parameters `rules/analytics.toml` lists as personal and the click ids, and no "
        "cookie is written.",
    )
    access_log_full_addresses: bool = Field(
        False,
        description="Write client addresses whole in the access log (debugging, or where "
        "your privacy policy allows it).",
    )
    freeze_startup_objects: bool = Field(
        False,
        description="Once the app has started (ASGI lifespan), move the objects alive then "
        "out of the garbage collector's full passes (`gc.collect()`, then `gc.freeze()`), "
        "which otherwise walk them all and hold requests up. Off by default: under the "
        "middleware the host application owns the collector (leave it off if your app frees "
        "cyclic structures it built at start-up); the gateway's own server "
        "(`consent-gateway demo`) turns it on unless the settings say otherwise.",
    )
    admin_token: list[str] = Field(
        default_factory=list,
        repr=False,
        description="Turns on the admin page at `<api_prefix>/admin`: a token (at least 24 "
        "characters) or a list of them, any of which opens it, sent as `Authorization: Bearer "
        "<token>` or typed into its login form. Unset, every admin path answers 404. A secret: "
        'never logged; generate one with `python -c "import secrets; '
        'print(secrets.token_urlsafe(32))"`.',
    )
    admin_session_minutes: int = Field(
        480,
        ge=1,
        le=7 * 24 * 60,
        description="How long the admin page's login lasts, in minutes; the session cookie "
        "is signed with `secret` and no longer opens the page once its token is removed "
        "from `admin_token`.",
    )
    classified_rules_file: Path | None = Field(
        None,
        description="The rules file the admin page writes a cookie's category to when you "
        "classify it there, read with the site's rules (after `cookies`, before "
        "`rule_files`). Unset: `classified-cookies.toml` beside the SQLite database, or in "
        "the working directory with PostgreSQL.",
    )
    analytics: AnalyticsSettings = Field(
        default_factory=lambda: AnalyticsSettings.model_validate({}),
        description="The `[analytics]` table: which analytics providers to collect hits "
        "for, and how hits are redacted and forwarded. Without a provider nothing is "
        "collected.",
    )

    @field_validator("consent_source", mode="before")
    @classmethod
    def _adapter_list(cls, value: object) -> object:
        return adapter_names(value)

    @field_validator("consent_source")
    @classmethod
    def _known_adapters(cls, value: str | list[str]) -> str | list[str]:
        return known_adapters(value)

    @field_validator("consent_adapters")
    @classmethod
    def _adapters_in_use(
        cls, value: dict[str, AdapterSettings], info: ValidationInfo
    ) -> dict[str, AdapterSettings]:
        source = info.data.get("consent_source")
        used = source if isinstance(source, list) else []
        for name, adapter in value.items():
            if name not in used:
                raise ValueError(
                    f"[consent_adapters.{name}] does nothing: {name!r} is not in consent_source"
                )
            if name in RULES_MAPPED_ADAPTERS and adapter.categories:
                raise ValueError(
                    f"[consent_adapters.{name}] categories do nothing: {name} maps its "
                    f"choices by rules/{name}.toml"
                )
            if adapter.tc_cookie is not None and config(name).tc_cookie is None:
                raise ValueError(
                    f"[consent_adapters.{name}] tc_cookie does nothing: {name} reads no TC "
                    "string beside its own cookie"
                )
            if name != "gpp" and adapter.refused_by:
                raise ValueError(
                    f"[consent_adapters.{name}] refused_by does nothing: only gpp reads opt-outs"
                )
            if name not in TCF_PURPOSES_ADAPTERS and adapter.purposes:
                raise ValueError(
                    f"[consent_adapters.{name}] purposes do nothing: only "
                    f"{' and '.join(sorted(TCF_PURPOSES_ADAPTERS))} read TCF purposes"
                )
        return value

    @field_validator("inject_banner")
    @classmethod
    def _no_banner_beside_a_cmp(cls, value: bool | None, info: ValidationInfo) -> bool | None:
        if value and info.data.get("consent_source", "gateway") != "gateway":
            raise ValueError(
                "true does nothing useful with consent_source adapters: the banner's choices "
                "would be saved in the gateway's own cookie, which is not read; the site's "
                "own consent banner asks"
            )
        return value

    @property
    def banner_inserted(self) -> bool:
        """Whether pages get the banner: ``inject_banner``, or by ``consent_source``."""
        if self.inject_banner is not None:
            return self.inject_banner
        return self.consent_source == "gateway"

    @field_validator("secret", mode="before")
    @classmethod
    def _one_or_many_secrets(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value

    @field_validator("secret")
    @classmethod
    def _strong_secrets(cls, value: list[str]) -> list[str]:
        for secret in value:
            if len(secret) < 16:
                raise ValueError("each secret must be at least 16 characters long")
        return value

    @field_validator("admin_token", mode="before")
    @classmethod
    def _one_or_many_tokens(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value

    @field_validator("admin_token")
    @classmethod
    def _strong_tokens(cls, value: list[str]) -> list[str]:
        for token in value:
            if len(token) < MIN_ADMIN_TOKEN_LENGTH or not token.isprintable() or " " in token:
                raise ValueError(
                    f"each admin token must be at least {MIN_ADMIN_TOKEN_LENGTH} printable "
                    "characters without spaces"
                )
        return value

    @field_validator("policy_version")
    @classmethod
    def _policy_version_shape(cls, value: str) -> str:
        if not POLICY_VERSION_PATTERN.fullmatch(value):
            raise ValueError("use 1-32 letters, digits, '-' or '_'")
        return value

    @field_validator("cookie_host_prefix")
    @classmethod
    def _host_prefix_without_domain(cls, value: bool, info: ValidationInfo) -> bool:
        if value and info.data.get("cookie_domain"):
            raise ValueError(
                "a __Host- cookie cannot have a Domain: unset cookie_domain or this setting"
            )
        return value

    @field_validator("allowed_origins")
    @classmethod
    def _origins_shape(cls, value: list[str]) -> list[str]:
        for origin in value:
            scheme, sep, rest = origin.partition("://")
            if scheme not in ("http", "https") or not sep or not rest or "/" in rest:
                raise ValueError(f"{origin!r} is not an origin like https://www.example.com")
        return [origin.lower() for origin in value]

    @field_validator("privacy_policy_url")
    @classmethod
    def _policy_url_shape(cls, value: str | None) -> str | None:
        if value is None:
            return None
        scheme, sep, rest = value.partition("://")
        absolute = scheme in ("http", "https") and sep and rest and not rest.startswith("/")
        local = value.startswith("/") and not value.startswith("//")
        if not (absolute or local) or any(c in value for c in ' "<>\\'):
            raise ValueError(f"{value!r} is not an https:// address or a path like /privacy")
        return value

    @field_validator("banner_texts")
    @classmethod
    def _known_text_keys(cls, value: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        keys, languages = banner_text_keys(), banner_languages()
        for language, texts in value.items():
            if not _LANGUAGE.fullmatch(language):
                raise ValueError(f"{language!r} is not a language code like de or pt")
            unknown = sorted(set(texts) - keys)
            if unknown:
                raise ValueError(
                    f"{language}: unknown text key(s) {unknown}; expected some of {sorted(keys)}"
                )
            missing = sorted(keys - set(texts) - LATER_TEXT_KEYS)
            if language not in languages and missing:
                raise ValueError(
                    f"{language} is not a built-in language ({', '.join(sorted(languages))}), "
                    f"so every text is needed; missing {missing}"
                )
            for key, text in texts.items():
                if not text.strip() or len(text) > MAX_TEXT_LENGTH:
                    raise ValueError(f"{language}.{key}: 1 to {MAX_TEXT_LENGTH} characters")
                if key == "dir" and text not in ("ltr", "rtl"):
                    raise ValueError(f"{language}.dir: expected 'ltr' or 'rtl', not {text!r}")
        return value

    @field_validator("default_language")
    @classmethod
    def _language_available(cls, value: str, info: ValidationInfo) -> str:
        available = banner_languages() | set(info.data.get("banner_texts") or {})
        if value not in available:
            raise ValueError(f"{value!r} is not a banner language: {', '.join(sorted(available))}")
        return value

    @field_validator("gtm_containers")
    @classmethod
    def _container_ids(cls, value: dict[str, Category]) -> dict[str, Category]:
        for container, category in value.items():
            if not _GTM_CONTAINER.fullmatch(container):
                raise ValueError(f"{container!r} is not a container id like GTM-ABC123")
            if category == Category.ESSENTIAL:
                raise ValueError(
                    f"{container}: a container loads whatever its owner configures, so it "
                    "waits for preferences, analytics or marketing, never essential"
                )
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_shape(cls, value: list[str]) -> list[str]:
        for proxy in value:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                raise ValueError(f"{proxy!r} is not an IP address or network") from None
        return value

    @field_validator("upstream", mode="before")
    @classmethod
    def _one_or_many_upstreams(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value

    @field_validator("upstream")
    @classmethod
    def _upstream_urls(cls, value: list[str]) -> list[str]:
        for url in value:
            upstream_address(url)
        return value

    @field_validator("upstream_ca_file")
    @classmethod
    def _ca_file_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"{str(value)!r} is not a file")
        return value

    @field_validator("metrics_listen")
    @classmethod
    def _listen_shape(cls, value: str | None) -> str | None:
        if value is not None:
            listen_address(value)
        return value

    @classmethod
    def load(
        cls,
        config_file: Path | str | None = None,
        *,
        environ: Mapping[str, str] | None = None,
        **overrides: Any,
    ) -> Settings:
        """Settings from the file, the environment and ``overrides``, validated."""
        values: dict[str, Any] = {}
        origins: dict[str, str] = {}
        if config_file is not None:
            path = Path(config_file)
            for key, value in _read_toml(path).items():
                values[key] = value
                origins[key] = f"{path} [{key}]"
        for key, (value, variable) in _from_environment(environ or os.environ).items():
            values[key] = value
            origins[key] = f"environment variable {variable}"
        for key, value in overrides.items():
            values[key] = value
            origins[key] = f"argument {key}"
        try:
            return cls.model_validate(values)
        except ValidationError as error:
            raise SettingsError(_describe(error, origins)) from None


def listen_address(value: str) -> tuple[str, int]:
    """``"127.0.0.1:9464"`` -> ``("127.0.0.1", 9464)``; ``"[::1]:9464"`` -> ``("::1", 9464)``."""
    host, colon, port = value.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not colon or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"{value!r} is not an address and port like 127.0.0.1:9464")
    return host, int(port)


def upstream_address(url: str) -> tuple[str, int]:
    """``"http://app:8080"`` -> ``("app", 8080)``, ``"https://app"`` -> ``("app", 443)``;
    ValueError for anything else."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r} is not an upstream URL like http://app:8080")
    if parts.path not in ("", "/") or parts.query or parts.fragment or "@" in parts.netloc:
        raise ValueError(f"{url!r}: an upstream URL names a host and a port only")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise ValueError(f"{url!r}: the port is not a number from 0 to 65535") from None
    if port == 0:
        raise ValueError(f"{url!r}: the port is not a number from 1 to 65535")
    return parts.hostname, port


def locales_dir() -> Path:
    """The banner's built-in translations, one ``<language>.json`` each."""
    return static_dir() / "consent-banner" / "locales"


@cache
def banner_languages() -> frozenset[str]:
    """The languages the banner ships translations for."""
    return frozenset(path.stem for path in locales_dir().glob("*.json"))


@cache
def banner_text_keys() -> frozenset[str]:
    """The keys every translation has (those of the English one)."""
    texts = json.loads((locales_dir() / "en.json").read_text(encoding="utf-8"))
    return frozenset(texts)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise SettingsError(f"settings file {path} does not exist") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise SettingsError(f"settings file {path} is not valid TOML: {error}") from None


_STRUCTURED = {
    "secret",
    "admin_token",
    "cookies",
    "allowed_origins",
    "rule_files",
    "banner_texts",
    "declared_vendors",
    "trusted_proxies",
    "analytics",
    "gtm_containers",
    "upstream",
    "consent_source",
    "consent_adapters",
}


def _from_environment(environ: Mapping[str, str]) -> dict[str, tuple[Any, str]]:
    """``CONSENT_GATEWAY_<KEY>`` values; lists as JSON, or comma-separated for origins."""
    found: dict[str, tuple[Any, str]] = {}
    for key in Settings.model_fields:
        variable = ENV_PREFIX + key.upper()
        if variable not in environ:
            continue
        raw = environ[variable]
        value: Any = raw
        if key in _STRUCTURED and raw.lstrip().startswith(("[", "{")):
            try:
                value = parse_json(raw)
            except JSONInputError as error:
                raise SettingsError(f"{variable}: {error}") from None
        elif key in ("allowed_origins", "trusted_proxies", "upstream"):
            value = [part.strip() for part in raw.split(",") if part.strip()]
        found[key] = (value, variable)
    return found


def _describe(error: ValidationError, origins: Mapping[str, str]) -> str:
    problems: list[str] = []
    for item in error.errors():
        location = [str(part) for part in item["loc"]]
        key = location[0] if location else "?"
        where = origins.get(key, "default")
        if item["type"] == "extra_forbidden":
            expected = "a known key: " + ", ".join(Settings.model_fields)
            problems.append(f"{'.'.join(location)} ({where}): unknown setting; expected {expected}")
            continue
        problems.append(f"{'.'.join(location)} ({where}): {item['msg']}")
    return "invalid settings:\n  " + "\n  ".join(problems)
