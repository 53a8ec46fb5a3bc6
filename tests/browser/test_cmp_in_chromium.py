"""A site's own consent banner, the real npm package running in Chromium behind the gateway:
the visitor clicks the library's Accept or Reject, and the next response's ``Set-Cookie``
enforcement and tracker neutralisation follow that choice (``consent_source``).

vanilla-cookieconsent 3.1.0 and klaro 0.7.22 come from ``tests/js`` (npm, exact versions).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from playwright.sync_api import BrowserContext, Page
from playwright.sync_api import Response as PageResponse
from playwright.sync_api import Route as BrowserRoute
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import Route

from gateway import ConsentMiddleware, Settings
from gateway.resources import static_dir
from tests.support.apps import SECRET
from tests.support.js import node_module
from tests.support.servers import running

GA4 = '<script async src="https://www.googletagmanager.com/gtag/js?id=G-TEST12345"></script>'

COOKIECONSENT = """
<link rel="stylesheet" href="/cmp/cookieconsent.css">
<script src="/cmp/cookieconsent.umd.js"></script>
<script>
CookieConsent.run({
  hideFromBots: false,  // Playwright sets navigator.webdriver
  categories: {
    necessary: {enabled: true, readOnly: true},
    analytics: {},
    ads: {}
  },
  language: {
    default: "en",
    translations: {en: {
      consentModal: {title: "Cookies", description: "We use cookies.",
        acceptAllBtn: "Accept all", acceptNecessaryBtn: "Reject all"},
      preferencesModal: {title: "Cookie preferences", acceptAllBtn: "Accept all",
        acceptNecessaryBtn: "Reject all", savePreferencesBtn: "Save", sections: []}
    }}
  }
});
</script>
"""

KLARO = """
<link rel="stylesheet" href="/cmp/klaro.css">
<script>
var klaroConfig = {
  storageMethod: "cookie",
  storageName: "klaro",
  acceptAll: true,
  services: [
    {name: "matomo", title: "Matomo", purposes: ["analytics"]},
    {name: "facebook", title: "Facebook pixel", purposes: ["marketing"]}
  ]
};
</script>
<script defer src="/cmp/klaro.js"></script>
"""

FILES = {
    "cookieconsent.umd.js": "vanilla-cookieconsent/dist/cookieconsent.umd.js",
    "cookieconsent.css": "vanilla-cookieconsent/dist/cookieconsent.css",
    "klaro.js": "klaro/dist/klaro-no-css.js",
    "klaro.css": "klaro/dist/klaro.min.css",
}

SNIPPET = static_dir() / "cmp" / "usercentrics-cookie.js"


def shop(cmp: str) -> Starlette:
    """A page with the CMP's tags and a Google tag, setting an analytics cookie (``_ga``)
    and a marketing one (``_fbp``) on every response, and the CMP's files."""

    async def page(request: Request) -> Response:
        body = (
            f"<!doctype html><html lang=en><head><meta charset=utf-8><title>Shop</title>{GA4}"
            f"</head><body><h1>Shop</h1>{cmp}</body></html>"
        )
        response = HTMLResponse(body)
        response.set_cookie("_ga", "GA1.1.123.456", max_age=3600)
        response.set_cookie("_fbp", "fb.1.123.456", max_age=3600)
        return response

    async def asset(request: Request) -> Response:
        name = request.path_params["name"]
        if name == SNIPPET.name:  # the gateway's own, from static/
            return FileResponse(SNIPPET)
        if name not in FILES:
            return Response(status_code=404)
        return FileResponse(node_module(FILES[name]))

    return Starlette(routes=[Route("/", page), Route("/cmp/{name}", asset)])


@contextmanager
def site(cmp: str, adapter: str, context: BrowserContext) -> Iterator[str]:
    """The shop behind the gateway reading ``adapter``, at a host of its own (a cookie
    library sets ``Domain`` to the page's host, which an IP address would refuse); the
    Google tag's host answers with a script that says it ran."""
    settings = Settings.load(
        environ={}, secret=SECRET, database_url="sqlite:///:memory:", consent_source=[adapter]
    )
    context.route(
        "https://www.googletagmanager.com/**",
        lambda route: _fulfil_tag(route),
    )
    with running(ConsentMiddleware(shop(cmp), settings)) as base:
        yield base.replace("127.0.0.1", "shop.test")


def _fulfil_tag(route: BrowserRoute) -> None:
    route.fulfill(status=200, content_type="text/javascript", body="window.gtagLoaded = true;")


def set_cookie_names(response: PageResponse | None) -> set[str]:
    """The cookies a page response sets (not those it expires)."""
    assert response is not None
    return {
        header["value"].split("=", 1)[0]
        for header in response.headers_array()
        if header["name"].lower() == "set-cookie" and "max-age=0" not in header["value"].lower()
    }


def tag_ran(page: Page) -> bool:
    page.wait_for_load_state("load")
    return bool(page.evaluate("window.gtagLoaded === true"))


def first_visit(page: Page, base: str) -> None:
    """Before a choice: the opt-in default refuses both cookies and keeps the tag inert."""
    response = page.goto(base + "/")
    assert set_cookie_names(response) == set()
    assert not tag_ran(page)


@pytest.mark.parametrize(
    ("button", "cookies", "runs"),
    [("Accept all", {"_ga", "_fbp"}, True), ("Reject all", set(), False)],
)
def test_vanilla_cookieconsent_choice_is_enforced(
    context: BrowserContext, page: Page, button: str, cookies: set[str], runs: bool
) -> None:
    with site(COOKIECONSENT, "cookieconsent", context) as base:
        first_visit(page, base)
        page.locator("#cc-main .cm").get_by_role("button", name=button).click()
        page.wait_for_function("document.cookie.includes('cc_cookie=')")

        response = page.goto(base + "/")
        assert set_cookie_names(response) == cookies
        assert tag_ran(page) is runs
        held = {cookie["name"] for cookie in context.cookies()}
        assert held & {"_ga", "_fbp"} == cookies
        state = page.evaluate("fetch('/_consent/state').then((r) => r.json())")
        assert state["source"] == "cookieconsent"
        assert state["categories"]["analytics"] is runs


@pytest.mark.parametrize(
    ("button", "cookies", "runs"),
    [(".cm-btn-success", {"_ga", "_fbp"}, True), (".cn-decline", set(), False)],
)
def test_klaro_choice_is_enforced(
    context: BrowserContext, page: Page, button: str, cookies: set[str], runs: bool
) -> None:
    with site(KLARO, "klaro", context) as base:
        first_visit(page, base)
        page.locator(f".klaro .cookie-notice {button}").click()
        page.wait_for_function("document.cookie.includes('klaro=')")

        response = page.goto(base + "/")
        assert set_cookie_names(response) == cookies
        assert tag_ran(page) is runs
        state = page.evaluate("fetch('/_consent/state').then((r) => r.json())")
        assert state["source"] == "klaro"
        assert state["categories"]["marketing"] is runs


# Usercentrics' script is a hosted service; this stand-in has the two calls of its Browser UI
# v2 API the snippet uses (UC_UI.isConsentRequired, UC_UI.getServicesBaseInfo) and fires its
# UC_UI_CMP_EVENT when the visitor chooses.
USERCENTRICS = """
<script>
window.UC_UI = {
  chosen: false,
  services: [
    {id: "a", name: "Google Analytics", categorySlug: "marketing", consent: {status: false}},
    {id: "b", name: "Hotjar", categorySlug: "functional", consent: {status: false}}
  ],
  isConsentRequired: function () { return !this.chosen; },
  getServicesBaseInfo: function () { return this.services; },
  choose: function (accepted) {
    this.chosen = true;
    this.services.forEach(function (s) { s.consent.status = accepted; });
    window.dispatchEvent(new CustomEvent("UC_UI_CMP_EVENT", {detail: {type: "ACCEPT_ALL"}}));
  }
};
</script>
<script src="/cmp/usercentrics-cookie.js"></script>
"""


@pytest.mark.parametrize(("accepted", "cookies"), [(True, {"_fbp"}), (False, set())])
def test_usercentrics_snippet_copies_the_choice_into_the_cookie_the_gateway_reads(
    context: BrowserContext, page: Page, accepted: bool, cookies: set[str]
) -> None:
    with site(USERCENTRICS, "usercentrics", context) as base:
        first_visit(page, base)
        assert "uc_consent=" not in page.evaluate("document.cookie")
        page.evaluate(f"UC_UI.choose({'true' if accepted else 'false'})")
        page.wait_for_function("document.cookie.includes('uc_consent=')")

        response = page.goto(base + "/")
        # Marketing follows the choice; no Usercentrics category maps to analytics here.
        assert set_cookie_names(response) == cookies
        state = page.evaluate("fetch('/_consent/state').then((r) => r.json())")
        assert state["source"] == "usercentrics"
        assert state["categories"]["preferences"] is accepted
