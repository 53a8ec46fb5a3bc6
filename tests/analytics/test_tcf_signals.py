"""GA4's TCF parameters: ``gdpr`` and ``gdpr_consent`` are the TC string the gateway
enforced, or absent; never what the client claimed."""

from __future__ import annotations

import asyncio
from urllib.parse import urlencode

from starlette.datastructures import Headers

from gateway.analytics.base import CollectRequest, Visitor
from gateway.analytics.providers.ga4 import GA4, tcf_signals
from gateway.analytics.redact import RedactionRules, Redactor
from gateway.consent.agents import AgentClassifier
from gateway.settings.analytics import GA4Settings

ENFORCED = "CQKzpUAQKzpUAAHABBENBXFgAP_gAAAAAAAAAAAAAAAA"
FOREIGN = "CQFOREIGNSTRINGAAAAAAAAAAAAAAAAAAAAAAAAAAAA"


def visitor(analytics: bool, marketing: bool, tc_string: str | None) -> Visitor:
    return Visitor("1.2.3.0", "ua", "ua", None, analytics, marketing, b"s", tc_string=tc_string)


def forwarded(seen: Visitor, **client: str) -> dict[str, list[str]]:
    """The shared parameters GA4 stores for a gtag hit the client sent with ``client``."""
    provider = GA4(GA4Settings(), Redactor(RedactionRules.load(), agents=AgentClassifier.load()), 1)
    query = urlencode({"v": "2", "tid": "G-X", "cid": "1.2", "en": "page_view", **client})
    request = CollectRequest("GET", "/g/collect", query, Headers(), b"", seen)
    [hit] = asyncio.run(provider.ingest(request)).hits
    pairs: dict[str, list[str]] = {}
    for key, value in hit.data["q"]:
        pairs.setdefault(key, []).append(value)
    return pairs


def test_the_enforced_string_replaces_the_clients() -> None:
    sent = forwarded(visitor(True, False, ENFORCED), gdpr="0", gdpr_consent=FOREIGN)
    assert sent["gdpr"] == ["1"] and sent["gdpr_consent"] == [ENFORCED]
    assert sent["gcs"] == ["G101"] and sent["npa"] == ["1"]


def test_without_a_tc_string_the_clients_are_removed() -> None:
    sent = forwarded(visitor(True, True, None), gdpr="1", gdpr_consent=FOREIGN)
    assert "gdpr" not in sent and "gdpr_consent" not in sent


def test_a_refusing_string_is_forwarded_with_denied_signals() -> None:
    sent = forwarded(visitor(False, False, ENFORCED), gcs="G111", gdpr_consent=FOREIGN)
    assert sent["gcs"] == ["G100"] and sent["gdpr_consent"] == [ENFORCED]
    assert sent["cid"] != ["1.2"]


def test_an_anonymised_visitor_carries_no_string() -> None:
    seen = visitor(True, True, ENFORCED).anonymised()
    assert tcf_signals(seen) == []
    assert "gdpr_consent" not in forwarded(seen, gdpr="1", gdpr_consent=ENFORCED)
    assert tcf_signals(visitor(True, True, ENFORCED)) == [("gdpr", "1"), ("gdpr_consent", ENFORCED)]
