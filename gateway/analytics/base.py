"""What every provider module shares: the visitor as the hit sees it, hits, outcomes, and
strict decoding of bodies and queries.

A provider module turns one client request into zero or more redacted ``Hit``s (or raises
``ClientError`` for a 4xx), answers the client the way its official server would, and later
turns a batch of stored hits into upstream requests. Nothing in a hit chooses where it is
sent: the upstream URL comes from the settings.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import dataclasses
import enum
import gzip
import json
import uuid
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar
from urllib.parse import parse_qsl

from starlette.datastructures import Headers

from gateway.analytics.redact import Redactor, TextFields
from gateway.analytics.salts import visitor_hash
from gateway.consent.agents import MAX_AGENT_LENGTH
from gateway.endpoint import ClientError
from gateway.json_input import JSONInputError
from gateway.json_input import parse_json as parse_bounded_json
from gateway.settings.analytics import ProviderSettings
from gateway.store import OutboxRow

PAYLOAD_VERSION = 1
MAX_DECOMPRESSED_FACTOR = 4  # a decompressed body may be 4x the body limit, no more


@dataclass(slots=True)
class Visitor:
    """The visitor of one request, as the redaction needs it."""

    ip: str | None  # truncated
    user_agent: str  # as forwarded (reduced when configured)
    raw_user_agent: str  # for the visitor hash only, never forwarded when reduced
    language: str | None
    analytics: bool  # analytics consent: ids may be forwarded
    marketing: bool  # marketing consent and no Sec-GPC: click ids, ad signals
    salt: bytes
    anonymous: bool = False  # ``anonymize = "always"``: no address leaves, not even one claimed
    tc_string: str | None = None  # the TC string the choice was read from (GA4 ``gdpr_consent``)
    _hashes: dict[str, bytes] = field(default_factory=dict)

    @property
    def forwarded_ip(self) -> str | None:
        """The address that may leave the gateway: ``ip``, or none for an anonymous visitor
        (``ip`` still keys the visitor id, which never leaves as an address)."""
        return None if self.anonymous else self.ip

    def anonymised(self) -> Visitor:
        """The visitor as a provider with ``anonymize = "always"`` sees everyone: without
        analytics and marketing consent, an address or a TC string."""
        return dataclasses.replace(
            self, analytics=False, marketing=False, anonymous=True, tc_string=None
        )

    def hash(self, site: str) -> bytes:
        """The cookieless visitor id for ``site`` (stable for a UTC day)."""
        found = self._hashes.get(site)
        if found is None:
            found = self._hashes[site] = visitor_hash(self.salt, site, self.ip, self.raw_user_agent)
        return found


def claimed_visitor(visitor: Visitor, agent: object, redactor: Redactor) -> Visitor:
    """The visitor with the User-Agent a server-side client named in the hit (Matomo's ``ua``,
    Umami's ``userAgent``, PostHog's ``$raw_user_agent``): the request's own is the client's
    server's, or none (Node's http sends none). ``visitor`` itself when the hit names none."""
    if not isinstance(agent, str) or not agent or agent == visitor.raw_user_agent:
        return visitor
    agent = agent[:MAX_AGENT_LENGTH]
    return dataclasses.replace(
        visitor, user_agent=redactor.user_agent(agent), raw_user_agent=agent, _hashes={}
    )


@dataclass(slots=True)
class CollectRequest:
    """One client request to a provider endpoint, body already read within the limit."""

    method: str
    path: str  # below /collect/<provider>, e.g. "/g/collect"
    query: str
    headers: Headers
    body: bytes
    visitor: Visitor


@dataclass(slots=True)
class Hit:
    """A redacted hit: ``data`` is what the provider module needs to send it later;
    ``visitor`` the one it names (``claimed_visitor``) when not the request's."""

    hit_id: str
    data: dict[str, Any]
    visitor: Visitor | None = None


@dataclass(frozen=True, slots=True)
class Answer:
    """What the client gets, the way the provider's own server answers. A plain value (not
    a Starlette response): it is sent as two raw ASGI messages, which matters at thousands
    of hits a second."""

    status: int
    body: bytes = b""
    media_type: str | None = None
    headers: tuple[tuple[bytes, bytes], ...] = ()  # instead of the CORS headers (a preflight)

    @classmethod
    def json(cls, value: object, status: int = 200) -> Answer:
        return cls(status, json.dumps(value, separators=(",", ":")).encode(), "application/json")

    @classmethod
    def text(cls, text: str, status: int = 200) -> Answer:
        return cls(status, text.encode(), "text/plain; charset=utf-8")


@dataclass(slots=True)
class Ingested:
    hits: list[Hit]
    response: Answer
    redactions: dict[str, int] = field(default_factory=dict)  # kind -> count, for the metric


class Outcome(enum.Enum):
    DELIVERED = "delivered"
    RETRY = "retry"
    REJECTED = "rejected"  # the upstream refused it for good (a 4xx): dropped, counted


@dataclass(frozen=True, slots=True)
class Result:
    outcome: Outcome
    reason: str  # "ok", "timeout", "network", "status_503", ...


class UpstreamError(Exception):
    """A request that got no HTTP answer; ``reason`` is ``timeout`` or ``network``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Upstream(Protocol):
    """How provider modules send: one POST, its status back (``upstream.HttpUpstream``)."""

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        """The response status; ``UpstreamError`` when there was none."""
        ...


@dataclass(frozen=True, slots=True)
class Request:
    """One upstream request built from stored hits."""

    url: str
    body: bytes
    headers: dict[str, str]


class Provider(Protocol):
    """One provider module's entry points."""

    name: str
    settings: ProviderSettings
    claims_agent: bool  # hits may name the visitor's User-Agent (server-side clients)

    def route(self, method: str, path: str) -> bool:
        """Whether ``method path`` is one of this provider's collection endpoints."""
        ...

    async def ingest(self, request: CollectRequest) -> Ingested: ...

    async def forward(self, upstream: Upstream, rows: Sequence[OutboxRow]) -> list[Result]:
        """Send ``rows`` (hits of this provider) upstream; one result per row, in order."""
        ...


S = TypeVar("S", bound=ProviderSettings)


class ProviderBase(Generic[S]):
    """What every provider holds: its settings, the redactor, how many upstream requests a
    batch may have in flight, and its free-text fields (``rules/``)."""

    name: str
    claims_agent = False

    def __init__(self, settings: S, redactor: Redactor, concurrency: int) -> None:
        self.settings = settings
        self.redactor = redactor
        self.concurrency = concurrency
        self.texts = redactor.rules.free_text.get(self.name, TextFields())


def new_hit_id() -> str:
    return str(uuid.uuid4())


def stable_id(value: object) -> str | None:
    """``value`` when it is a UUID (the provider's own event id), normalised, else None."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


def encode_payload(visitor: Visitor, data: dict[str, Any]) -> bytes:
    """The outbox row of a hit: the visitor's forwarded traits and the provider's data."""
    document = {
        "v": PAYLOAD_VERSION,
        "ip": visitor.forwarded_ip,
        "ua": visitor.user_agent,
        "lang": visitor.language,
        "d": data,
    }
    return json.dumps(document, separators=(",", ":")).encode("ascii")


@dataclass(frozen=True, slots=True)
class Stored:
    """An outbox row decoded."""

    row: OutboxRow
    ip: str | None
    user_agent: str
    language: str | None
    data: dict[str, Any]


def decode_payload(row: OutboxRow) -> Stored:
    document = json.loads(row.payload)
    return Stored(row, document["ip"], document["ua"], document.get("lang"), document["d"])


def parse_json(body: bytes, what: str = "the body") -> Any:
    """JSON from UTF-8 bytes, nested within ``json_input.MAX_DEPTH``; ``ClientError`` 400 with
    the reason otherwise."""
    text = decode_text(body, what)
    try:
        return parse_bounded_json(text)
    except JSONInputError as error:
        raise ClientError(400, f"{what} {error}", "malformed") from None


def parse_query(query: str) -> list[tuple[str, str]]:
    """Pairs of a query string (or form body), strictly UTF-8 after percent-decoding."""
    try:
        return parse_qsl(query, keep_blank_values=True, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        raise ClientError(400, "the query is not valid UTF-8", "invalid_utf8") from None
    except ValueError:
        raise ClientError(400, "the query is malformed", "malformed") from None


def decode_text(raw: bytes, what: str = "the body") -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ClientError(400, f"{what} is not valid UTF-8", "invalid_utf8") from None


def gunzip(body: bytes, limit: int) -> bytes:
    """A gzip body decompressed, at most ``limit`` bytes (413 beyond: no zip bombs)."""
    try:
        decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
        result = decompressor.decompress(body, limit + 1)
        if len(result) > limit or decompressor.unconsumed_tail:
            raise ClientError(
                413, f"the decompressed body may be at most {limit} bytes", "too_large"
            )
        return result
    except (zlib.error, gzip.BadGzipFile, EOFError):
        raise ClientError(400, "the body is not valid gzip", "malformed") from None


def unbase64(text: str | bytes) -> bytes:
    try:
        return base64.b64decode(text, validate=False)
    except (binascii.Error, ValueError):
        raise ClientError(400, "the body is not valid base64", "malformed") from None


def classify_status(status: int) -> Result:
    """What an upstream status means for a hit: delivered, try again, or refused for good."""
    if 200 <= status < 300:
        return Result(Outcome.DELIVERED, "ok")
    if status in (408, 425, 429) or status >= 500:
        return Result(Outcome.RETRY, f"status_{status}")
    return Result(Outcome.REJECTED, f"status_{status}")


async def send_one(upstream: Upstream, request: Request) -> Result:
    """One upstream request, its failure turned into a result (never an exception)."""
    try:
        status = await upstream.post(request.url, request.body, request.headers)
    except UpstreamError as error:
        return Result(Outcome.RETRY, error.reason)
    return classify_status(status)


async def send_each(
    upstream: Upstream,
    rows: Sequence[Stored],
    build: Callable[[Stored], Request],
    concurrency: int = 32,
) -> list[Result]:
    """One upstream request per hit, ``concurrency`` at a time, results in row order.

    A few workers take the next hit in turn (rather than one task per hit), which keeps the
    per-hit cost to the request itself."""
    results: list[Result | None] = [None] * len(rows)
    position = 0

    async def worker() -> None:
        nonlocal position
        while position < len(rows):
            index = position
            position += 1
            results[index] = await send_one(upstream, build(rows[index]))

    workers = min(concurrency, len(rows))
    if workers == 1:
        await worker()
    else:
        await asyncio.gather(*(worker() for _ in range(workers)))
    return [
        result if result is not None else Result(Outcome.RETRY, "not_sent") for result in results
    ]


def json_body(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode("ascii")


def forwarded_headers(stored: Stored, *, with_ip: bool = True) -> dict[str, str]:
    """The headers an upstream reads the visitor from (User-Agent, the truncated IP), and
    the hit's stable id as ``Idempotency-Key``, so a hit sent twice is recognisable."""
    headers = {
        "user-agent": stored.user_agent or "consent-gateway",
        "idempotency-key": stored.row.hit_id,
        "content-type": "application/json",
    }
    if with_ip and stored.ip:
        headers["x-forwarded-for"] = stored.ip
    if stored.language:
        headers["accept-language"] = stored.language
    return headers


def count(redactions: dict[str, int], kind: str, amount: int = 1) -> None:
    if amount:
        redactions[kind] = redactions.get(kind, 0) + amount
