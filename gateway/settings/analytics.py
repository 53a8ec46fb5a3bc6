"""The ``[analytics]`` settings: one table per provider, plus redaction and outbox limits.

A provider is collected only when its table is present. Credentials (GA4's ``api_secret``,
Matomo's ``token_auth``, Sentry's DSN) live here and nowhere else: whatever a client sends in
their place is removed, and the upstream URL is fixed here, so no request can choose where a
hit goes.
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Mode = Literal["drop", "cookieless"]
Anonymize = Literal["by_consent", "always"]

KB = 1024
MB = 1024 * KB


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{value!r} is not an http(s) URL like https://analytics.example")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError(f"{value!r}: give the URL without query, fragment or credentials")
    return value.rstrip("/")


class ProviderSettings(BaseModel):
    """What every provider has: where hits go and what happens without analytics consent."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    upstream: str = Field(
        description="Where hits are forwarded: the base URL of the provider's collection "
        "server (Matomo: the full URL of `matomo.php`; Sentry: worked out from `dsn` unless "
        "set). Fixed here, so no request chooses where a hit goes."
    )
    mode: Mode = Field(
        "cookieless",
        description="What happens to the hits of a visitor without analytics consent: "
        "`cookieless` forwards them without ids, `drop` answers the client as the provider "
        "would and forwards nothing.",
    )
    anonymize: Anonymize = Field(
        "by_consent",
        description="`always`: every visitor's hits are forwarded as those of a visitor without "
        "analytics and marketing consent and with no IP address at all, whatever the visitor "
        "chose (a policy that promises this provider anonymised data); `by_consent`: only "
        "those of visitors who did not consent (as `mode` says).",
    )
    body_limit: int = Field(
        64 * KB,
        ge=KB,
        le=64 * MB,
        description="Largest body accepted, in bytes, decompressed bodies too; larger ones "
        "are answered 413.",
    )
    site_ids: list[str] = Field(
        default_factory=list,
        description="The ids this provider's hits may name (GA4 measurement ids, Matomo "
        "`idsite`, Plausible domains, Umami website ids, PostHog project keys); others are "
        "answered 403. Empty: any.",
    )

    @field_validator("upstream")
    @classmethod
    def _upstream_shape(cls, value: str) -> str:
        return _http_url(value)


class GA4Settings(ProviderSettings):
    upstream: str = "https://region1.google-analytics.com"
    api_secret: str | None = Field(
        None,
        description="The Measurement Protocol secret. `/mp/collect` is served only with it; "
        "clients post without it and the gateway adds it.",
    )


class MatomoSettings(ProviderSettings):
    """``upstream`` is the full URL of matomo.php."""

    token_auth: str | None = Field(
        None,
        description="A Matomo token with write access, which lets Matomo accept the "
        "truncated IP (`cip`) and the time received (`cdt`); without it Matomo sees the "
        "gateway's address. A client's `token_auth` is removed.",
    )


class PlausibleSettings(ProviderSettings):
    upstream: str = "https://plausible.io"


class UmamiSettings(ProviderSettings):
    upstream: str = "https://cloud.umami.is"


class PostHogSettings(ProviderSettings):
    upstream: str = "https://us.i.posthog.com"
    body_limit: int = Field(MB, ge=KB, le=64 * MB)


class SentrySettings(ProviderSettings):
    """The DSN decides the upstream: ``<scheme>://<host>/api/<project>/envelope/``."""

    upstream: str = ""
    dsn: str = Field(
        description="The Sentry project's DSN (`https://<key>@o1.ingest.sentry.io/42`); "
        "required. Envelopes naming another DSN are refused with 403."
    )
    body_limit: int = Field(MB, ge=KB, le=64 * MB)
    mode: Mode = "cookieless"

    @field_validator("upstream")
    @classmethod
    def _upstream_shape(cls, value: str) -> str:
        return _http_url(value) if value else value

    @field_validator("dsn")
    @classmethod
    def _dsn_shape(cls, value: str) -> str:
        parts = urlsplit(value)
        project = parts.path.rstrip("/").rsplit("/", 1)[-1]
        if (
            parts.scheme not in ("http", "https")
            or not parts.hostname
            or not parts.username
            or not project.isdigit()
        ):
            raise ValueError(f"{value!r} is not a DSN like https://<key>@o1.ingest.sentry.io/42")
        return value

    @model_validator(mode="after")
    def _upstream_from_dsn(self) -> SentrySettings:
        if not self.upstream:
            parts = urlsplit(self.dsn)
            path, _, project = parts.path.rstrip("/").rpartition("/")
            netloc = parts.netloc.rpartition("@")[2]
            upstream = f"{parts.scheme}://{netloc}{path}/api/{project}/envelope"
            object.__setattr__(self, "upstream", upstream)
        return self


class AnalyticsSettings(BaseModel):
    """The ``[analytics]`` table."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ga4: GA4Settings | None = Field(
        None, description="Google Analytics 4: gtag.js hits and the Measurement Protocol."
    )
    matomo: MatomoSettings | None = Field(None, description="Matomo's JavaScript tracker.")
    plausible: PlausibleSettings | None = Field(None, description="Plausible's script.")
    umami: UmamiSettings | None = Field(None, description="Umami's script.")
    posthog: PostHogSettings | None = Field(None, description="posthog-js events.")
    sentry: SentrySettings | None = Field(
        None, description="The Sentry browser SDK's envelopes (its `tunnel` option)."
    )

    forwarder: Literal["worker", "separate"] = Field(
        "worker",
        description="`worker`: every gateway worker also forwards; `separate`: workers only "
        "collect, and `consent-gateway forward` (one or more processes, anywhere that "
        "reaches the database) forwards.",
    )
    ipv4_prefix: int = Field(
        24, ge=0, le=32, description="Bits of the client's IPv4 address kept (a /24 network)."
    )
    ipv6_prefix: int = Field(
        48, ge=0, le=128, description="Bits of the client's IPv6 address kept (a /48 network)."
    )
    reduce_user_agent: bool = Field(
        False,
        description="Forward only the browser family, major version, OS and device class "
        "of the User-Agent.",
    )
    outbox_max_age_hours: float = Field(
        72, gt=0, description="Hits waiting longer in the outbox are dropped (counted)."
    )
    outbox_max_hits: int = Field(
        1_000_000,
        ge=100,
        description="The most hits the outbox keeps; beyond it the oldest are dropped (counted).",
    )
    forward_batch_size: int = Field(
        100, ge=1, le=1000, description="Hits one forwarding loop claims and sends at a time."
    )
    forward_concurrency: int = Field(
        8, ge=1, le=64, description="Batches in flight per provider (forwarding loops)."
    )
    forward_timeout_seconds: float = Field(
        10, gt=0, le=120, description="Timeout of one request to a provider."
    )
    retry_base_seconds: float = Field(
        1,
        gt=0,
        description="Backoff after a failed send: the n-th retry waits about "
        "`retry_base_seconds * 2^(n-1)`, jittered, at most `retry_max_seconds`.",
    )
    retry_max_seconds: float = Field(300, gt=0, description="The longest wait between retries.")
    breaker_failures: int = Field(
        5,
        ge=1,
        description="Failed batches in a row that open a provider's circuit breaker: the "
        "backlog then waits on disk.",
    )
    breaker_cooldown_seconds: float = Field(
        30, gt=0, description="While a breaker is open, the pause between probe batches."
    )

    def providers(self) -> dict[str, ProviderSettings]:
        """The configured providers by name."""
        found = {
            "ga4": self.ga4,
            "matomo": self.matomo,
            "plausible": self.plausible,
            "umami": self.umami,
            "posthog": self.posthog,
            "sentry": self.sentry,
        }
        return {name: value for name, value in found.items() if value is not None}
