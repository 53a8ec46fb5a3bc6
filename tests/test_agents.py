"""Bot detection on the request path and full user-agent descriptions."""

from __future__ import annotations

import pytest

from gateway.agents import AgentClassifier

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
)
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
EDGE = CHROME + " Edg/131.0.2903.86"


@pytest.fixture(scope="module")
def agents() -> AgentClassifier:
    return AgentClassifier.load()


@pytest.mark.parametrize("user_agent", [CHROME, IPHONE, FIREFOX, EDGE])
def test_browsers_are_not_bots(agents: AgentClassifier, user_agent: str) -> None:
    assert agents.bot_kind(user_agent) is None
    assert agents.describe(user_agent).is_bot is False


@pytest.mark.parametrize(
    ("user_agent", "kind"),
    [
        ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "search"),
        ("Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2)", "ai"),
        ("Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)", "monitoring"),
        ("Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)", "seo"),
        ("facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)", "preview"),
        (CHROME.replace("Chrome/", "HeadlessChrome/"), "headless"),
        ("curl/8.5.0", "script"),
        ("python-requests/2.32.3", "script"),
        ("", "unknown-client"),
    ],
)
def test_bots_are_recognised_by_kind(agents: AgentClassifier, user_agent: str, kind: str) -> None:
    assert agents.bot_kind(user_agent) == kind
    assert agents.describe(user_agent).is_bot is True


def test_describe_summarises_without_identifying(agents: AgentClassifier) -> None:
    chrome = agents.describe(CHROME)
    assert (chrome.browser_family, chrome.browser_major, chrome.os_family) == (
        "Chrome",
        "131",
        "Windows",
    )
    assert chrome.device_class == "desktop"
    assert agents.describe(IPHONE).device_class == "mobile"


def test_garbage_agents_do_not_raise(agents: AgentClassifier) -> None:
    garbage = "\x00\xff" * 5000
    agents.bot_kind(garbage)
    assert agents.describe(garbage).browser_family
