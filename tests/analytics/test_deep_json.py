"""Every collection endpoint that parses JSON bounds its nesting: a document nested near
Python's recursion limit (which used to parse, then fail when redacted or encoded again:
a 500) is a clear 400, through a real server, and the endpoint keeps collecting."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from gateway import ConsentMiddleware
from gateway.json_input import MAX_DEPTH
from tests.support.providers import BROWSER_UA, sentry_dsn
from tests.support.servers import serving
from tests.support.standin import StandIn

pytestmark = pytest.mark.slow  # every test runs a real server and a stand-in provider

Gateway = Callable[..., ConsentMiddleware]
GA4_MP = "/_consent/collect/ga4/mp/collect?measurement_id=G-TEST12345"
EVENT_ID = "0123456789abcdef0123456789abcdef"


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def bodies(inner: str, dsn: str) -> dict[str, tuple[str, str]]:
    """A valid hit of each provider, with ``inner`` where a nested value may go."""
    deep = "DEEP"  # a placeholder, replaced by ``inner`` in the JSON text
    documents: dict[str, tuple[str, object]] = {
        "posthog": (
            "/_consent/collect/posthog/e/",
            {"event": "x", "properties": {"token": "phc_t", "distinct_id": "a", "deep": deep}},
        ),
        "ga4": (GA4_MP, {"client_id": "1.2", "events": [{"name": "x", "params": {"d": deep}}]}),
        "plausible": (
            "/_consent/collect/plausible/api/event",
            {"n": "pageview", "u": "https://shop.example/", "d": "shop.example", "p": deep},
        ),
        "umami": (
            "/_consent/collect/umami/api/send",
            {
                "type": "event",
                "payload": {"website": "w", "url": "/", "hostname": "shop.example", "data": deep},
            },
        ),
        "matomo": ("/_consent/collect/matomo/matomo.php", {"requests": deep}),
    }
    found = {
        name: (path, json.dumps(document).replace('"DEEP"', inner))
        for name, (path, document) in documents.items()
    }
    envelope = [{"dsn": dsn}, {"type": "event"}, {"event_id": EVENT_ID, "extra": deep}]
    lines = "".join(json.dumps(line) + "\n" for line in envelope)
    found["sentry"] = ("/_consent/collect/sentry/", lines.replace('"DEEP"', inner))
    return found


PROVIDERS = ["posthog", "ga4", "plausible", "umami", "matomo", "sentry"]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_json_nested_near_the_parsers_limit_is_a_400_never_a_500(
    make_collecting_gateway: Gateway, stand_in: StandIn, provider: str
) -> None:
    dsn = sentry_dsn(stand_in)
    headers = {"content-type": "application/json", "user-agent": BROWSER_UA}
    with serving(make_collecting_gateway()) as url, httpx.Client(base_url=url) as client:
        # Where the old parser gave up depends on the stack below it: sweep the range.
        answers = {}
        for depth in range(900, 1001):
            path, body = bodies(nested(depth), dsn)[provider]
            response = client.post(path, content=body, headers=headers)
            answers[depth] = (response.status_code, response.text)
        assert not {depth for depth, (status, _) in answers.items() if status >= 500}
        for status, text in answers.values():
            assert status == 400
            assert f"more than {MAX_DEPTH} levels deep" in json.loads(text)["error"]
        path, body = bodies("[]" if provider == "matomo" else "{}", dsn)[provider]
        if provider == "matomo":
            body = '{"requests": ["?idsite=1&rec=1&url=https%3A%2F%2Fshop.example%2F"]}'
        assert client.post(path, content=body, headers=headers).status_code < 300


def test_nesting_up_to_the_bound_is_collected(
    make_collecting_gateway: Gateway, stand_in: StandIn
) -> None:
    headers = {"content-type": "application/json", "user-agent": BROWSER_UA}
    # The event object is one level: its props may nest MAX_DEPTH - 1 more.
    path, body = bodies(nested(MAX_DEPTH - 1), sentry_dsn(stand_in))["plausible"]
    too_deep = bodies(nested(MAX_DEPTH), sentry_dsn(stand_in))["plausible"][1]
    with serving(make_collecting_gateway()) as url, httpx.Client(base_url=url) as client:
        assert client.post(path, content=body, headers=headers).status_code == 202
        refused = client.post(path, content=too_deep, headers=headers)
        assert refused.status_code == 400
        assert refused.json() == {
            "error": f"the body nests arrays or objects more than {MAX_DEPTH} levels deep"
        }
        stand_in.wait_count(1)
