"""The real clients in headless Chromium, pointed at the gateway, their hits redacted on the
way to stand-ins: posthog-js, Plausible's tracker and @sentry/browser, from npm (tests/js).

Chromium runs with an ordinary Chrome User-Agent: its own says HeadlessChrome, which the
gateway rightly counts as a bot and does not forward.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from gateway import ConsentMiddleware, Settings
from tests.support.apps import SECRET
from tests.support.js import NODE_MODULES, node_module
from tests.support.providers import BROWSER_UA, FAST, provider_settings, sentry_dsn
from tests.support.servers import serving
from tests.support.standin import StandIn

POSTHOG_TOKEN = "phc_browser0123456789"
MODULES = {
    "posthog": "posthog-js/dist/array.full.no-external.js",
    "plausible": "@plausible-analytics/tracker/plausible.js",
    "sentry": "@sentry/browser/build/npm/esm/prod/index.js",
}
_CONDITIONS = ("browser", "import", "module", "default")


def _resolve(target: Any) -> str | None:
    """The file an ``exports`` entry names for a browser importing an ES module."""
    if isinstance(target, str):
        return target
    if isinstance(target, dict):
        for condition in _CONDITIONS:
            if condition in target:
                found = _resolve(target[condition])
                if found is not None:
                    return found
    return None


def import_map() -> dict[str, dict[str, str]]:
    """Bare module names of the installed packages resolved as a bundler would (their
    ``exports``, else ``module``), so @sentry/browser's ES modules load unbundled."""
    imports: dict[str, str] = {}
    for manifest in NODE_MODULES.glob("**/package.json"):
        relative = manifest.parent.relative_to(NODE_MODULES)
        if "node_modules" in relative.parts or len(relative.parts) > 2:
            continue
        data = json.loads(manifest.read_text())
        name = data.get("name")
        if not isinstance(name, str) or name != relative.as_posix():
            continue
        exports = data.get("exports")
        entries = (
            exports
            if isinstance(exports, dict) and any(k.startswith(".") for k in exports)
            else {".": exports}
            if exports
            else {}
        )
        if "." not in entries and isinstance(data.get("module"), str):
            entries["."] = data["module"]
        for subpath, target in entries.items():
            file = _resolve(target)
            if file and not subpath.endswith("*") and file.endswith((".js", ".mjs")):
                specifier = name + subpath[1:]
                imports[specifier] = f"/node_modules/{name}/{file.removeprefix('./')}"
    return {"imports": imports}


def page_html(dsn: str) -> str:
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Shop</title>
<script type="importmap">{json.dumps(import_map())}</script>
<script src="/node_modules/{MODULES["posthog"]}"></script>
<script>
  posthog.init("{POSTHOG_TOKEN}", {{
    api_host: location.origin + "/_consent/collect/posthog",
    advanced_disable_flags: true, disable_session_recording: true, disable_surveys: true,
    request_batching: false, autocapture: false, capture_pageview: true,
    opt_out_useragent_filter: true,  // navigator.webdriver would mark the test as a bot
  }});
  window.posthogReady = true;
</script>
<script type="module">
  window.__plausible = true;  // the tracker skips pages driven by automation otherwise
  import {{ init }} from "/node_modules/{MODULES["plausible"]}";
  init({{ domain: "shop.example", endpoint: "/_consent/collect/plausible/api/event",
          captureOnLocalhost: true, logging: false }});
</script>
<script type="module">
  import * as Sentry from "@sentry/browser";
  Sentry.init({{ dsn: "{dsn}", tunnel: "/_consent/collect/sentry/", sendDefaultPii: true,
                 defaultIntegrations: false, integrations: [Sentry.httpContextIntegration()] }});
  Sentry.setUser({{ id: "customer-42", email: "ann@mail.example" }});
  Sentry.captureException(new Error("checkout failed"));
</script>
</head><body><h1>Shop</h1></body></html>"""


def site(dsn: str) -> Starlette:
    async def home(request: Request) -> HTMLResponse:
        return HTMLResponse(page_html(dsn))

    async def module(request: Request) -> Response:
        path = (NODE_MODULES / request.path_params["path"]).resolve()
        if NODE_MODULES.resolve() not in path.parents or not path.is_file():
            return Response(status_code=404)
        return Response(path.read_bytes(), media_type="text/javascript")

    return Starlette(routes=[Route("/checkout", home), Route("/node_modules/{path:path}", module)])


@pytest.fixture
def stand_in() -> Iterator[StandIn]:
    server = StandIn().start()
    yield server
    server.stop()


@pytest.fixture
def gateway(tmp_path: Path, stand_in: StandIn) -> ConsentMiddleware:
    for relative in MODULES.values():
        node_module(relative)
    settings = Settings.load(
        environ={},
        secret=SECRET,
        database_url=f"sqlite:///{tmp_path / 'gateway.db'}",
        analytics={**provider_settings(stand_in.url), **FAST},
    )
    return ConsentMiddleware(site(sentry_dsn(stand_in)), settings)


@pytest.fixture
def visitor(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(user_agent=BROWSER_UA)
    yield context
    context.close()


def received(stand_in: StandIn) -> dict[str, list[Any]]:
    """What each provider stand-in got: PostHog events, Plausible events, Sentry items."""
    found: dict[str, list[Any]] = {"posthog": [], "plausible": [], "sentry": []}
    for hit in list(stand_in.received):
        if hit.path == "/batch/":
            found["posthog"] += hit.json()["batch"]
        elif hit.path == "/api/event":
            found["plausible"].append(hit.json())
        elif hit.path.endswith("/envelope/"):
            lines = [json.loads(line) for line in hit.body.split(b"\n") if line.strip()]
            found["sentry"] += [item for item in lines[2::2]]
    return found


def visit(context: BrowserContext, url: str, stand_in: StandIn) -> dict[str, list[Any]]:
    page = context.new_page()
    page.goto(url + "/checkout?email=ann%40mail.example&gclid=Cj0KCQ&step=2")
    page.wait_for_function("window.posthogReady === true")

    def complete(_: object) -> bool:
        got = received(stand_in)
        pageviews = [e for e in got["posthog"] if e["event"] == "$pageview"]
        return bool(pageviews and got["plausible"] and got["sentry"])

    stand_in.wait_for(complete, timeout=30)
    page.close()
    return received(stand_in)


def test_real_clients_without_consent_send_only_redacted_cookieless_hits(
    gateway: ConsentMiddleware, stand_in: StandIn, visitor: BrowserContext
) -> None:
    with serving(gateway) as url:
        got = visit(visitor, url, stand_in)
    pageview = next(e for e in got["posthog"] if e["event"] == "$pageview")
    properties = pageview["properties"]
    assert properties["distinct_id"].startswith("cg_")
    assert properties["$process_person_profile"] is False
    for gone in ("$device_id", "$session_id", "$window_id", "gclid"):
        assert gone not in properties
    assert properties["$ip"] == "127.0.0.0"
    assert properties["$current_url"] == url + "/checkout?step=2"
    assert pageview["uuid"]  # posthog-js's own event id, kept as the hit id

    plausible = got["plausible"][0]
    assert plausible["n"] == "pageview" and plausible["d"] == "shop.example"
    assert plausible["u"] == url + "/checkout?step=2"

    event = got["sentry"][0]
    assert event["exception"]["values"][0]["value"] == "checkout failed"
    assert event["user"] == {"ip_address": "127.0.0.0"}
    assert event["request"]["url"] == url + "/checkout?step=2"
    assert set(event["request"].get("headers", {})) <= {"User-Agent", "Referer"}
    # Nowhere in what the clients sent (posthog-js's $session_entry_ copies of the page,
    # the stack frames' file names...) is the address or, without marketing, the click id.
    sent = json.dumps(got)
    assert "mail.example" not in sent and "Cj0KCQ" not in sent


def test_real_clients_with_consent_keep_their_ids_but_never_the_full_ip(
    gateway: ConsentMiddleware, stand_in: StandIn, visitor: BrowserContext
) -> None:
    with serving(gateway) as url:
        answer = visitor.request.post(
            url + "/_consent/state", data={"all": True}, headers={"origin": url}
        )
        assert answer.ok
        got = visit(visitor, url, stand_in)
    pageview = next(e for e in got["posthog"] if e["event"] == "$pageview")
    properties = pageview["properties"]
    assert not properties["distinct_id"].startswith("cg_")
    assert properties["$device_id"] and properties["$session_id"]
    assert properties["$ip"] == "127.0.0.0"
    assert "gclid=Cj0KCQ" in properties["$current_url"]
    assert "email" not in properties["$current_url"]
    event = got["sentry"][0]
    assert event["user"]["id"] == "customer-42"
    assert event["user"]["ip_address"] == "127.0.0.0"
