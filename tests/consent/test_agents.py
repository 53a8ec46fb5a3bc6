"""Bot detection on the request path and full user-agent descriptions."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.consent.agents import AgentClassifier, AgentInfo
from tests.support.agents import CHROME_WINDOWS

CHROME_MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/142.0.0.0 Safari/537.36"
)
CHROME_ANDROID = (
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/142.0.0.0 Mobile Safari/537.36"
)
CHROME_IOS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_7 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) CriOS/142.0.7444.77 Mobile/15E148 Safari/604.1"
)
FIREFOX_WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:145.0) Gecko/20100101 Firefox/145.0"
FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:145.0) Gecko/20100101 Firefox/145.0"
FIREFOX_ANDROID = "Mozilla/5.0 (Android 15; Mobile; rv:145.0) Gecko/145.0 Firefox/145.0"
SAFARI_MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/26.1 Safari/605.1.15"
)
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_7 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/26.1 Mobile/15E148 Safari/604.1"
)
SAFARI_IPAD = (
    "Mozilla/5.0 (iPad; CPU OS 18_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/26.1 Mobile/15E148 Safari/604.1"
)
EDGE_WINDOWS = CHROME_WINDOWS + " Edg/142.0.3595.53"
EDGE_ANDROID = CHROME_ANDROID + " EdgA/142.0.3595.53"
SAMSUNG_INTERNET = (
    "Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S928B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "SamsungBrowser/28.0 Chrome/130.0.0.0 Mobile Safari/537.36"
)
BROWSERS = [
    CHROME_WINDOWS,
    CHROME_MAC,
    CHROME_ANDROID,
    CHROME_IOS,
    FIREFOX_WINDOWS,
    FIREFOX_LINUX,
    FIREFOX_ANDROID,
    SAFARI_MAC,
    SAFARI_IPHONE,
    SAFARI_IPAD,
    EDGE_WINDOWS,
    EDGE_ANDROID,
    SAMSUNG_INTERNET,
]
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


@pytest.fixture(scope="module")
def agents() -> AgentClassifier:
    return AgentClassifier.load()


@pytest.mark.parametrize("user_agent", BROWSERS)
def test_browsers_are_not_bots(agents: AgentClassifier, user_agent: str) -> None:
    assert agents.bot_kind(user_agent) is None
    info = agents.describe(user_agent)
    assert (info.is_bot, info.bot_kind) == (False, None)
    assert info.device_class in {"desktop", "mobile", "tablet"}


@pytest.mark.parametrize(
    ("user_agent", "kind"),
    [
        (GOOGLEBOT, "search"),
        (
            CHROME_ANDROID + " (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            "search",
        ),
        ("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", "search"),
        ("DuckDuckBot/1.1; (+http://duckduckgo.com/duckduckbot.html)", "search"),
        (
            "Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)",
            "search",
        ),
        ("Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)", "search"),
        (SAFARI_MAC + " (Applebot/0.1; +http://www.apple.com/go/applebot)", "search"),
        (
            "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)",
            "ai",
        ),
        (
            "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; ClaudeBot/1.0; "
            "+claudebot@anthropic.com)",
            "ai",
        ),
        ("CCBot/2.0 (https://commoncrawl.org/faq/)", "ai"),
        (
            "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; PerplexityBot/1.0; +https://perplexity.ai/perplexitybot)",
            "ai",
        ),
        ("Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)", "monitoring"),
        ("Pingdom.com_bot_version_1.4_(http://www.pingdom.com/)", "monitoring"),
        (
            CHROME_WINDOWS + " StatusCake",
            "monitoring",
        ),
        (CHROME_WINDOWS.replace("Chrome/", "HeadlessChrome/") + " DatadogSynthetics", "monitoring"),
        ("Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)", "seo"),
        ("Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)", "seo"),
        ("Mozilla/5.0 (compatible; MJ12bot/v1.4.8; http://mj12bot.com/)", "seo"),
        ("facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)", "preview"),
        ("Twitterbot/1.0", "preview"),
        ("Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", "preview"),
        ("Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)", "preview"),
        ("WhatsApp/2.23.20.0 A", "preview"),
        (CHROME_WINDOWS.replace("Chrome/", "HeadlessChrome/"), "headless"),
        (
            "Mozilla/5.0 (Unknown; Linux x86_64) AppleWebKit/538.1 (KHTML, like Gecko) "
            "PhantomJS/2.1.1 Safari/538.1",
            "headless",
        ),
        ("curl/8.5.0", "script"),
        ("Wget/1.21.4", "script"),
        ("python-requests/2.32.3", "script"),
        ("python-httpx/0.28.1", "script"),
        ("Python/3.12 aiohttp/3.11.10", "script"),
        ("Go-http-client/2.0", "script"),
        ("okhttp/4.12.0", "script"),
        ("Java/21.0.5", "script"),
        ("libwww-perl/6.77", "script"),
        ("Scrapy/2.12.0 (+https://scrapy.org)", "script"),
        ("axios/1.7.9", "script"),
        ("node-fetch/1.0 (+https://github.com/bitinn/node-fetch)", "script"),
        ("Mozilla/5.0 (compatible; ExampleCrawler/1.0)", "generic"),
        ("Apache Nutch/1.20", "generic"),
        ("", "unknown-client"),
        ("   ", "unknown-client"),
    ],
)
def test_bots_are_recognised_by_kind(agents: AgentClassifier, user_agent: str, kind: str) -> None:
    assert agents.bot_kind(user_agent) == kind
    info = agents.describe(user_agent)
    assert (info.is_bot, info.bot_kind, info.device_class) == (True, kind, "bot")


def test_tokens_match_whatever_the_case(agents: AgentClassifier) -> None:
    assert agents.bot_kind("CURL/8.5.0") == "script"
    assert agents.bot_kind(GOOGLEBOT.lower()) == "search"
    assert agents.bot_kind(GOOGLEBOT.upper()) == "search"


def test_versions_do_not_change_the_answer(agents: AgentClassifier) -> None:
    assert agents.bot_kind(CHROME_WINDOWS.replace("142", "143")) is None
    assert agents.bot_kind("Mozilla/5.0 (compatible; MJ12bot/v1.4.8)") == "seo"
    assert agents.bot_kind("Mozilla/5.0 (compatible; MJ13bot/v2.0)") == "seo"
    assert agents.bot_kind(CHROME_WINDOWS.replace("Chrome/142", "HeadlessChrome/99")) == "headless"


def test_answers_stay_the_same_once_remembered() -> None:
    agents = AgentClassifier.load(cache_size=2)
    stream = [GOOGLEBOT, CHROME_WINDOWS, "curl/8.5.0", GOOGLEBOT, CHROME_WINDOWS] * 3
    assert [agents.bot_kind(agent) for agent in stream] == [
        "search",
        None,
        "script",
        "search",
        None,
    ] * 3


@pytest.mark.parametrize(
    ("user_agent", "info"),
    [
        (CHROME_WINDOWS, AgentInfo("Chrome", "142", "Windows", "desktop", False, None)),
        (SAFARI_MAC, AgentInfo("Safari", "26", "Mac OS X", "desktop", False, None)),
        (EDGE_WINDOWS, AgentInfo("Edge", "142", "Windows", "desktop", False, None)),
        (SAFARI_IPHONE, AgentInfo("Mobile Safari", "26", "iOS", "mobile", False, None)),
        (SAFARI_IPAD, AgentInfo("Mobile Safari", "26", "iOS", "tablet", False, None)),
        (FIREFOX_ANDROID, AgentInfo("Firefox Mobile", "145", "Android", "mobile", False, None)),
        (GOOGLEBOT, AgentInfo("Googlebot", "2", "Other", "bot", True, "search")),
        ("", AgentInfo("Other", None, "Other", "bot", True, "unknown-client")),
    ],
)
def test_describe_summarises_browser_os_and_device(
    agents: AgentClassifier, user_agent: str, info: AgentInfo
) -> None:
    assert agents.describe(user_agent) == info


def test_bots_that_only_ua_parser_knows_count_as_bots(agents: AgentClassifier) -> None:
    yahoo = "Mozilla/5.0 (compatible; Yahoo Ad monitoring; https://help.yahoo.com/kb/yahoo-ad-monitoring-SLN24857.html)"
    assert agents.bot_kind(yahoo) is None
    info = agents.describe(yahoo)
    assert (info.is_bot, info.bot_kind, info.device_class) == (True, "other", "bot")


@pytest.mark.parametrize(
    "garbage",
    [
        "\x00\xff" * 5000,
        "Mozilla/5.0 (" * 800,
        "(" * 10_000,
        "\ud800" * 100,
        CHROME_WINDOWS + " " + "A" * 10_000,
    ],
)
def test_garbage_agents_do_not_raise(agents: AgentClassifier, garbage: str) -> None:
    agents.bot_kind(garbage)
    info = agents.describe(garbage)
    assert info.device_class in {"desktop", "mobile", "tablet", "bot", "other"}


def test_kinds_come_from_the_file_in_its_order(tmp_path: Path) -> None:
    path = tmp_path / "bots.toml"
    path.write_text(
        '[link-preview]\ncrawler = true\ntokens = ["Unfurler", "acme-unfurl"]\n'
        '[in-house]\ntokens = ["acme", "probe"]\n'
    )
    agents = AgentClassifier.load(path)
    assert agents.crawlers == {"link-preview"}
    assert agents.bot_kind("probe/1 Unfurler/2") == "link-preview"
    assert agents.bot_kind("acme-unfurl/1.0") == "link-preview"
    assert agents.bot_kind("acme/2.0") == "in-house"
    assert agents.bot_kind("curl/8.5.0") is None


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ('[search]\ntokens = "Googlebot"\n', r"\[search\] must hold only `tokens`"),
        ('[search]\nwords = ["Googlebot"]\n', r"\[search\] must hold only `tokens`"),
        ('search = ["Googlebot"]\n', r"\[search\] must hold only `tokens`"),
        ('[search]\ncrawler = "yes"\ntokens = ["Googlebot"]\n', r"`crawler`, true or false"),
        ('[search]\ntokens = ["Googlebot", ""]\n', r"\[search\] '' is not an ASCII token"),
        ('[search]\ntokens = ["Googlebot", 7]\n', r"\[search\] 7 is not an ASCII token"),
        ('[search]\ntokens = ["Bötchen"]\n', r"\[search\] 'Bötchen' is not an ASCII token"),
        ('[other]\ntokens = ["Robot"]\n', r"\[other\] is a kind the gateway reports"),
        (
            '[a]\ntokens = ["curl/"]\n[b]\ntokens = ["CURL/"]\n',
            r"'CURL/' is listed twice \(\[a\], \[b\]\)",
        ),
        ("[search\n", "cannot read the bot tokens"),
    ],
)
def test_a_bad_bot_file_names_the_file_and_the_problem(
    tmp_path: Path, text: str, named: str
) -> None:
    path = tmp_path / "bots.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=named) as error:
        AgentClassifier.load(path)
    assert str(path) in str(error.value)
