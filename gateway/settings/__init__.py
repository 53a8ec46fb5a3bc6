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

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from gateway.consent.state import POLICY_VERSION_PATTERN, Category, Regime
from gateway.json_input import JSONInputError, parse_json
from gateway.resources import static_dir
from gateway.settings.analytics import AnalyticsSettings

ENV_PREFIX = "CONSENT_GATEWAY_"
MAX_COOKIE_LIFETIME_DAYS = 395  # 13 months, the CNIL's and most DPAs' ceiling
MAX_TEXT_LENGTH = 2000
_LANGUAGE = re.compile(r"[a-z]{2,3}")
_GTM_CONTAINER = re.compile(r"GTM-[A-Z0-9]{4,12}")


class SettingsError(ValueError):
    """Invalid settings; the message lists every problem, one per line."""


class Settings(BaseModel):
    """Everything a site owner can set. See the settings table in the README."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    secret: list[str] = Field(
        default_factory=list,
        description="Signing secrets for the consent cookie; the first signs, all verify.",
    )
    policy_version: str = Field("1", description="Bump to ask every visitor again.")
    cookie_name: str = Field("cg_consent", pattern=r"^[A-Za-z0-9_\-]{1,64}$")
    cookie_lifetime_days: int = Field(182, ge=1, le=MAX_COOKIE_LIFETIME_DAYS)
    cookie_domain: str | None = Field(None, description="Share the choice across subdomains.")
    cookie_host_prefix: bool = Field(
        False,
        description="Over HTTPS, name the consent cookie `__Host-<cookie_name>` (Secure, "
        "Path=/, no Domain), which no other subdomain or path can set beside it.",
    )
    api_prefix: str = Field("/_consent", pattern=r"^/[A-Za-z0-9_\-/]*[A-Za-z0-9_\-]$")
    default_regime: Regime = Regime.OPT_IN
    country_header: str | None = Field(
        None,
        description="Header with the visitor's country, set by the CDN in front (CF-IPCountry). "
        "Only when that CDN is in front of every request and overwrites or strips a client's "
        "copy: otherwise any visitor chooses their regime.",
    )
    subdivision_header: str | None = Field(
        None, description="Header with the visitor's region; trusted as country_header is."
    )
    geoip_database: Path | None = None
    unknown_cookies: Literal["allow", "deny"] | Category = "allow"
    cookies: list[dict[str, Any]] = Field(
        default_factory=list, description="Site cookie rules; they override the built-in ones."
    )
    rule_files: list[Path] = Field(
        default_factory=list,
        description="Site rules files ([[vendor]] tables, as `rules import-ocd` writes them).",
    )
    expire_refused_cookies: bool = True
    database_url: str = "sqlite:///consent-gateway.sqlite3"
    metrics: bool = False
    privacy_policy_url: str | None = Field(None, description="Linked from the banner.")
    consent_mode: bool = Field(False, description="Emit Google Consent Mode v2 signals.")
    banner_texts: dict[str, dict[str, str]] = Field(
        default_factory=dict, description="Per-language overrides of the banner's texts."
    )
    default_language: str = Field("en", description="Banner language when none matches.")
    reopen_control: bool = Field(True, description="Show the persistent 'Privacy choices'.")
    declared_vendors: list[str] = Field(
        default_factory=list, description="Built-in vendors the declaration always lists."
    )
    declare_seen_cookies: bool = Field(
        True, description="List the built-in rules of cookie names seen on this site."
    )
    declare_seen_visitors: int = Field(
        3,
        ge=1,
        description="How many visitors (told apart by network) must send a cookie before "
        "its built-in rule is listed; one the site's own Set-Cookie sets is listed at once.",
    )
    allowed_origins: list[str] = Field(
        default_factory=list, description="Other origins allowed to call the consent API."
    )
    inject_banner: bool = Field(True, description="Insert the banner's tags into HTML pages.")
    block_trackers: Literal["opt-in", "always", "never"] = Field(
        "opt-in",
        description="Make known trackers in HTML pages inert until their category is granted: "
        "for visitors under the opt-in regime, for every visitor, or never.",
    )
    gtm_containers: dict[str, Category] = Field(
        default_factory=dict,
        description="Google Tag Manager containers by id and the category each waits for; "
        "any other container waits for marketing, since it loads whatever its owner set up.",
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Proxy addresses or networks whose X-Forwarded-For is believed.",
    )
    max_header_bytes: int = Field(
        16 * 1024,
        ge=4096,
        description="`consent-gateway serve` answers 431 to a request line and headers "
        "larger than this, in bytes (your own server sets its own limit).",
    )
    freeze_startup_objects: bool = Field(
        False,
        description="When the app has started, keep the objects alive then out of the "
        "garbage collector's full passes (gc.freeze), which otherwise stall requests. Off "
        "for the middleware, whose host application owns the collector; the gateway's own "
        "server (`consent-gateway demo`) turns it on unless the settings say otherwise.",
    )
    analytics: AnalyticsSettings = Field(
        default_factory=lambda: AnalyticsSettings.model_validate({})
    )

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
            missing = sorted(keys - set(texts))
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
    "cookies",
    "allowed_origins",
    "rule_files",
    "banner_texts",
    "declared_vendors",
    "trusted_proxies",
    "analytics",
    "gtm_containers",
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
        elif key in ("allowed_origins", "trusted_proxies"):
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
