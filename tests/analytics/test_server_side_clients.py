"""Server-side clients from npm (tests/js), run by Node against a real gateway server that
forwards to the stand-in: matomo-tracker (Node's http sends no User-Agent; the Tracking API's
``ua`` names the visitor's) and @umami/node (``userAgent`` in the payload). The visitor's
User-Agent in the hit decides whether it is a bot's, and is the one forwarded."""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Callable

import httpx
import pytest

from gateway import ConsentMiddleware
from tests.support.js import NODE_MODULES
from tests.support.providers import BROWSER_UA
from tests.support.servers import serving
from tests.support.standin import StandIn

pytestmark = pytest.mark.slow  # Node processes against a real server

Gateway = Callable[..., ConsentMiddleware]
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
WEBSITE = "4fb7fa4c-5b46-438d-94b3-3a8fb9bc2e8b"


def node(script: str, gateway: str) -> None:
    """Run ``script`` with the npm packages of tests/js; GATEWAY, VISITOR_UA, GOOGLEBOT and
    WEBSITE in its environment."""
    for package in ("matomo-tracker", "@umami/node"):
        if not (NODE_MODULES / package / "package.json").is_file():
            raise FileNotFoundError(f"{package} is missing: run `npm ci --prefix tests/js`")
    environment = {
        **os.environ,
        "NODE_PATH": str(NODE_MODULES),
        "GATEWAY": gateway,
        "VISITOR_UA": BROWSER_UA,
        "GOOGLEBOT": GOOGLEBOT,
        "WEBSITE": WEBSITE,
    }
    subprocess.run(["node", "-e", script], env=environment, check=True, timeout=60)


def bot_hits(url: str, provider: str) -> str:
    metrics = httpx.get(url + "/_consent/metrics").text
    line = f'consent_gateway_analytics_hits_total{{decision="bot",provider="{provider}"}}'
    return next((row.split()[-1] for row in metrics.splitlines() if row.startswith(line)), "0")


MATOMO = """
const MatomoTracker = require("matomo-tracker");
const matomo = new MatomoTracker(3, process.env.GATEWAY + "/_consent/collect/matomo/matomo.php");
matomo.on("error", (error) => { console.error("matomo-tracker:", error); process.exitCode = 1; });
matomo.track({
  url: "https://shop.example/checkout?step=2&email=ann@mail.example",
  action_name: "Checkout", ua: process.env.VISITOR_UA, lang: "de-DE",
});
matomo.track({ url: "https://shop.example/without-ua" });
matomo.trackBulk([
  { url: "https://shop.example/bulk-visitor", ua: process.env.VISITOR_UA },
  { url: "https://shop.example/bulk-crawler", ua: process.env.GOOGLEBOT },
], () => {});
"""


def test_matomo_tracker_is_counted_by_the_ua_it_names(
    make_collecting_gateway: Gateway, stand_in: StandIn, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        caplog.at_level(logging.DEBUG, logger="consent_gateway"),
        serving(make_collecting_gateway()) as url,
    ):
        node(MATOMO, url)
        received = stand_in.wait_count(2)
        bots = bot_hits(url, "matomo")
    by_page = {hit.params["url"]: hit for hit in received}
    assert set(by_page) == {
        "https://shop.example/checkout?step=2",
        "https://shop.example/bulk-visitor",
    }
    checkout = by_page["https://shop.example/checkout?step=2"]
    assert checkout.params["ua"] == BROWSER_UA  # the visitor's, as Matomo's own server reads it
    assert checkout.headers["user-agent"] == BROWSER_UA
    assert checkout.params["action_name"] == "Checkout" and checkout.params["lang"] == "de-DE"
    assert bots == "2.0"  # the hit without ua (no User-Agent at all) and Googlebot's
    dropped = [r.getMessage() for r in caplog.records if "from a bot" in r.getMessage()]
    assert any("matomo" in line and "unknown-client" in line for line in dropped), dropped
    assert any("matomo" in line and "Googlebot" in line for line in dropped), dropped


UMAMI = """
const { Umami } = require("@umami/node");
const umami = new Umami({
  websiteId: process.env.WEBSITE, hostUrl: process.env.GATEWAY + "/_consent/collect/umami",
});
(async () => {
  const pages = [["/home", process.env.VISITOR_UA], ["/crawled", process.env.GOOGLEBOT]];
  for (const [url, userAgent] of pages) {
    const response = await umami.track({ hostname: "shop.example", url, title: "Shop", userAgent });
    if (!response.ok) throw new Error("the gateway answered " + response.status);
  }
})().catch((error) => { console.error(error); process.exit(1); });
"""


def test_umami_node_is_counted_by_the_user_agent_in_its_payload(
    make_collecting_gateway: Gateway, stand_in: StandIn
) -> None:
    with serving(make_collecting_gateway()) as url:
        node(UMAMI, url)
        (hit,) = stand_in.wait_count(1)
        bots = bot_hits(url, "umami")
    assert hit.json()["payload"]["url"] == "/home"
    assert "userAgent" not in hit.json()["payload"]
    assert hit.headers["user-agent"] == BROWSER_UA  # not @umami/node's own "Umami/v20..."
    assert bots == "1.0"  # Googlebot's page view, though @umami/node's own agent is no bot's


def test_posthog_events_are_counted_by_their_raw_user_agent(
    make_collecting_gateway: Gateway, stand_in: StandIn
) -> None:
    # posthog-node and other server-side senders name the visitor's in $raw_user_agent.
    def event(name: str, agent: str) -> dict[str, object]:
        properties = {"token": "phc_x", "distinct_id": "d", "$raw_user_agent": agent}
        return {"event": name, "properties": properties}

    batch = {
        "api_key": "phc_x",
        "batch": [event("visited", BROWSER_UA), event("crawled", GOOGLEBOT)],
    }
    with serving(make_collecting_gateway()) as url:
        response = httpx.post(
            url + "/_consent/collect/posthog/batch/",
            json=batch,
            headers={"user-agent": "posthog-node/5.0.0"},
        )
        assert response.json() == {"status": 1}
        (hit,) = stand_in.wait_count(1)
        bots = bot_hits(url, "posthog")
    assert [sent["event"] for sent in hit.json()["batch"]] == ["visited"]
    assert bots == "1.0"
