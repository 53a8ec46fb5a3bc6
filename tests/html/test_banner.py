"""Serving the banner's assets and the tags that load it."""

from __future__ import annotations

import gzip
import json
import re
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import httpx
import pytest

from gateway import ConsentMiddleware
from gateway.consent.state import ALL_GRANTED, ESSENTIAL_ONLY, ConsentState, Regime, Source
from gateway.html.banner import Banner
from gateway.resources import static_dir
from tests.support.apps import ORIGIN_HEADERS, Gateway, client_for

SIZE_BUDGET_BYTES = 7000  # banner.js + banner.css, each gzip -9 (issue 3: 7 KB)


async def test_assets_are_served_at_hashed_urls_as_immutable(make_gateway: Gateway) -> None:
    gateway: ConsentMiddleware = make_gateway()
    hashed = gateway.gateway.banner.url("banner.js")
    assert hashed.startswith("/_consent/banner.") and hashed != "/_consent/banner.js"
    async with client_for(gateway) as client:
        response = await client.get(hashed)
        stable = await client.get("/_consent/banner.js")
        css = await client.get(gateway.gateway.banner.url("banner.css"))
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
    banner = make_gateway().gateway.banner
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
    assert (link_tag, link["rel"], link["href"], link["nonce"]) == (
        "link",
        "stylesheet",
        banner.url("banner.css"),
        'n0"nce',
    )
    assert (script_tag, script["src"], script["nonce"]) == (
        "script",
        banner.url("banner.js"),
        'n0"nce',
    )
    assert "defer" in script
    data = json.loads(script["data-state"] or "")
    assert data["regime"] == "opt-in" and data["categories"]["analytics"] is False
    assert "should-not-appear" not in json.dumps(data)


def served_config(banner: Banner) -> dict[str, Any]:
    """The settings the gateway wrote into the served banner.js."""
    script = banner.asset("banner.js").body.decode()
    found = re.search(r"var C=(\{.*?\});", script)
    assert found, "banner.js carries no CONFIG"
    config: dict[str, Any] = json.loads(found.group(1))
    return config


@pytest.mark.slow
def test_banner_js_is_minified_valid_javascript_with_the_settings(
    make_gateway: Gateway, tmp_path: Path
) -> None:
    banner = make_gateway(privacy_policy_url="https://shop.example/privacy").gateway.banner
    served = banner.asset("banner.js").body
    source = (static_dir() / "consent-banner" / "banner.js").read_bytes()
    assert len(served) < len(source) * 0.8
    config = served_config(banner)
    assert config["p"] == "https://shop.example/privacy"
    assert config["c"] == banner.url("banner.css").rsplit("/", 1)[1]
    assert config["l"] == ["da", "de", "en", "es", "fr", "it", "nl", "pl", "pt", "sv"]
    for name in ("banner.js", "consent-mode.js"):
        path = tmp_path / name
        path.write_bytes(banner.asset(name).body)
        subprocess.run(["node", "--check", str(path)], check=True)


def test_banner_js_and_css_fit_the_size_budget(make_gateway: Gateway) -> None:
    banner = make_gateway().gateway.banner
    sizes = [len(gzip.compress(banner.asset(n).body, 9)) for n in ("banner.js", "banner.css")]
    assert sum(sizes) <= SIZE_BUDGET_BYTES, f"gzip -9 sizes {sizes}"


async def test_each_language_is_served_alone_with_the_site_overrides(
    make_gateway: Gateway,
) -> None:
    gateway = make_gateway(banner_texts={"de": {"title": "Ihre Daten, Ihre Wahl"}})
    hashed = f"locales/de.{served_config(gateway.gateway.banner)['v']}.json"
    async with client_for(gateway) as client:
        german = await client.get(f"/_consent/{hashed}")
        stable = await client.get("/_consent/locales/de.json")
        missing = await client.get("/_consent/locales/xx.json")
    texts = german.json()
    assert texts["title"] == "Ihre Daten, Ihre Wahl"
    assert texts["accept"] == "Alle akzeptieren" and texts["lang"] == "de"
    assert "immutable" in german.headers["cache-control"]
    assert stable.json() == texts and "immutable" not in stable.headers["cache-control"]
    assert missing.status_code == 404


def test_every_translation_has_the_english_keys_and_placeholders() -> None:
    directory = static_dir() / "consent-banner" / "locales"
    english = json.loads((directory / "en.json").read_text(encoding="utf-8"))
    for path in sorted(directory.glob("*.json")):
        texts = json.loads(path.read_text(encoding="utf-8"))
        assert list(texts) == list(english), path.name
        assert all(isinstance(v, str) and v.strip() for v in texts.values()), path.name
        assert {"{host}", "{category}"} <= set(re.findall(r"\{\w+\}", texts["blocked"]))
        assert "{category}" in texts["allow"], path.name
        assert texts["dir"] == "ltr"


def test_changed_settings_change_the_hashed_urls(make_gateway: Gateway) -> None:
    plain = make_gateway().gateway.banner
    linked = make_gateway(privacy_policy_url="/privacy").gateway.banner
    assert plain.url("banner.js") != linked.url("banner.js")
    assert plain.url("banner.css") == linked.url("banner.css")


def test_consent_mode_defaults_come_first_and_synchronously(make_gateway: Gateway) -> None:
    banner = make_gateway(consent_mode=True).gateway.banner
    state = ConsentState(ESSENTIAL_ONLY, False, Source.DEFAULT, "1", Regime.OPT_IN)
    parser = _Tags()
    parser.feed(banner.snippet(state, "abc").head.decode())
    scripts = [attrs for tag, attrs in parser.tags if tag == "script"]
    assert [s["src"] for s in scripts] == [banner.url("consent-mode.js"), banner.url("banner.js")]
    mode = scripts[0]
    assert "defer" not in mode and "async" not in mode and mode["nonce"] == "abc"
    assert json.loads(mode["data-state"] or "")["regime"] == "opt-in"
    without = make_gateway().gateway.banner.snippet(state, None).head.decode()
    assert "consent-mode" not in without


CONSENT_MODE_RUN = """
const vm = require("vm");
const [code, state, gpc] = process.argv.slice(1);
const window = { navigator: { globalPrivacyControl: gpc === "1" } };
window.window = window;
window.document = { currentScript: { getAttribute: () => state } };
vm.runInNewContext(code, window);
const log = window.dataLayer.map((args) => Array.from(args));
window.consentGatewayConsentMode({ analytics: true, marketing: false, preferences: true });
log.push(Array.from(window.dataLayer[window.dataLayer.length - 1]));
console.log(JSON.stringify(log));
"""


def run_consent_mode(code: bytes, state: dict[str, Any] | str, gpc: bool = False) -> Any:
    data = state if isinstance(state, str) else json.dumps(state)
    result = subprocess.run(
        ["node", "-e", CONSENT_MODE_RUN, code.decode(), data, "1" if gpc else "0"],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(result.stdout)


SEVEN_TYPES = {
    "analytics_storage",
    "ad_storage",
    "ad_user_data",
    "ad_personalization",
    "functionality_storage",
    "personalization_storage",
    "security_storage",
}


def test_consent_mode_sends_regime_defaults_then_the_stored_choice(
    make_gateway: Gateway,
) -> None:
    code = make_gateway().gateway.banner.asset("consent-mode.js").body
    undecided = {"decided": False, "regime": "opt-in", "gpc": False, "categories": {}}
    (default, update) = run_consent_mode(code, undecided)
    assert default[:2] == ["consent", "default"]
    assert set(default[2]) == SEVEN_TYPES | {"wait_for_update"}
    assert {default[2][t] for t in SEVEN_TYPES - {"security_storage"}} == {"denied"}
    assert default[2]["security_storage"] == "granted" and default[2]["wait_for_update"] == 500
    # The update banner.js sends on a choice maps every category.
    assert update[2]["analytics_storage"] == "granted" and update[2]["ad_user_data"] == "denied"
    assert update[2]["functionality_storage"] == "granted"

    decided = {
        "decided": True,
        "regime": "opt-out",
        "gpc": True,
        "categories": {"preferences": False, "analytics": False, "marketing": True},
    }
    default, stored, _ = run_consent_mode(code, decided)
    assert default[2]["analytics_storage"] == "granted"  # opt-out default...
    assert default[2]["ad_storage"] == "denied"  # ...but GPC refuses marketing
    assert stored[:2] == ["consent", "update"]
    assert stored[2]["ad_personalization"] == "granted"
    assert stored[2]["analytics_storage"] == "denied"


@pytest.mark.slow
def test_consent_mode_defaults_to_denied_without_a_readable_state(
    make_gateway: Gateway,
) -> None:
    code = make_gateway().gateway.banner.asset("consent-mode.js").body
    default, _ = run_consent_mode(code, "{not json")
    assert default[2]["ad_storage"] == "denied" and default[2]["analytics_storage"] == "denied"
    default, _ = run_consent_mode(code, {"regime": "notice"}, gpc=True)
    assert default[2]["analytics_storage"] == "granted" and default[2]["ad_storage"] == "denied"


class _Forms(HTMLParser):
    """The forms of a fragment: action, and the fields each submit button sends."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "form":
            self.forms.append({"action": values["action"], "buttons": [], "boxes": {}})
        elif tag == "button" and values.get("name"):
            self.forms[-1]["buttons"].append((values["name"], values["value"]))
        elif tag == "input" and values.get("type") == "checkbox":
            self.forms[-1]["boxes"][values["name"]] = "checked" in values


async def test_the_no_script_forms_post_a_choice(make_gateway: Gateway) -> None:
    gateway = make_gateway(privacy_policy_url="/privacy")
    undecided = ConsentState(ESSENTIAL_ONLY, False, Source.DEFAULT, "1", Regime.OPT_IN)
    body = gateway.gateway.banner.snippet(undecided, None).body.decode()
    assert body.startswith("<noscript>") and body.endswith("</noscript>")
    assert '<a href="/privacy">Privacy policy</a>' in body and "<details>" not in body
    parser = _Forms()
    parser.feed(body)
    choose_all, customize = parser.forms
    assert choose_all["buttons"] == [("all", "accept"), ("all", "reject")]
    assert customize["boxes"] == {"preferences": False, "analytics": False, "marketing": False}
    async with client_for(gateway) as client:
        headers = {**ORIGIN_HEADERS, "referer": "http://testserver/shop"}
        answer = await client.post(choose_all["action"], data={"all": "accept"}, headers=headers)
        assert answer.status_code == 303 and answer.headers["location"] == "/shop"
        state = (await client.get("/_consent/state")).json()
    assert state["categories"]["marketing"] is True

    decided = ConsentState(ALL_GRANTED, True, Source.USER, "1", Regime.OPT_IN)
    folded = gateway.gateway.banner.snippet(decided, None).body.decode()
    assert "<details><summary>Privacy choices</summary>" in folded
    parser = _Forms()
    parser.feed(folded)
    assert parser.forms[1]["boxes"] == {"preferences": True, "analytics": True, "marketing": True}


def test_no_script_texts_follow_the_default_language(make_gateway: Gateway) -> None:
    banner = make_gateway(default_language="de").gateway.banner
    state = ConsentState(ESSENTIAL_ONLY, False, Source.DEFAULT, "1", Regime.OPT_IN)
    body = banner.snippet(state, None).body.decode()
    assert 'lang="de"' in body and "Alle ablehnen" in body


def test_the_head_tags_are_well_formed_xml_for_xhtml_pages(make_gateway: Gateway) -> None:
    banner = make_gateway(consent_mode=True).gateway.banner
    state = ConsentState(ESSENTIAL_ONLY, False, Source.DEFAULT, "1", Regime.OPT_IN)
    snippet = banner.snippet(state, "n'1", xhtml=True)
    head = ElementTree.fromstring(b"<head>" + snippet.head + b"</head>")
    assert [element.tag for element in head] == ["link", "script", "script"]
    assert head[2].get("defer") == "defer" and head[2].get("nonce") == "n'1"
    assert snippet.body == b""  # XML ignores <noscript>: its forms would always show
    assert banner.snippet(state, None).body.startswith(b"<noscript>")
