"""Serving the banner's assets and the tags that load it."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import httpx

from gateway import ConsentMiddleware
from gateway.consent import ConsentState, Regime, Source
from tests.test_middleware import Gateway, client_for


async def test_assets_are_served_at_hashed_urls_as_immutable(make_gateway: Gateway) -> None:
    gateway: ConsentMiddleware = make_gateway()
    hashed = gateway.banner.url("banner.js")
    assert hashed.startswith("/_consent/banner.") and hashed != "/_consent/banner.js"
    async with client_for(gateway) as client:
        response = await client.get(hashed)
        stable = await client.get("/_consent/banner.js")
        css = await client.get(gateway.banner.url("banner.css"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert "immutable" in response.headers["cache-control"]
    assert stable.content == response.content
    assert "immutable" not in stable.headers["cache-control"]
    assert css.headers["content-type"].startswith("text/css")


async def test_a_current_copy_is_revalidated_with_304(make_gateway: Gateway) -> None:
    async with client_for(make_gateway()) as client:
        first = await client.get("/_consent/banner.js")
        again = await client.get(
            "/_consent/banner.js", headers={"if-none-match": first.headers["etag"]}
        )
        stale = await client.get("/_consent/banner.js", headers={"if-none-match": '"old"'})
    assert again.status_code == 304 and again.content == b""
    assert stale.status_code == 200 and stale.content == first.content


async def test_an_unknown_asset_is_404(make_gateway: Gateway) -> None:
    async with client_for(make_gateway()) as client:
        response: httpx.Response = await client.get("/_consent/banner.0000.js")
    assert response.status_code == 404


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def test_the_snippet_carries_the_state_and_the_nonce(make_gateway: Gateway) -> None:
    banner = make_gateway().banner
    state = ConsentState(
        granted=frozenset(),
        decided=False,
        source=Source.DEFAULT,
        policy_version="1",
        regime=Regime.OPT_IN,
        consent_id="should-not-appear",
    )
    parser = _Tags()
    parser.feed(banner.snippet(state, 'n0"nce').head.decode())
    (link_tag, link), (script_tag, script) = parser.tags
    assert (link_tag, link["rel"], link["href"]) == ("link", "stylesheet", banner.url("banner.css"))
    assert (script_tag, script["src"], script["nonce"]) == (
        "script",
        banner.url("banner.js"),
        'n0"nce',
    )
    assert "defer" in script
    data = json.loads(script["data-state"] or "")
    assert data["regime"] == "opt-in" and data["categories"]["analytics"] is False
    assert "should-not-appear" not in json.dumps(data)
