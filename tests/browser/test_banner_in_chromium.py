"""The consent banner in real Chromium, on a shop served by uvicorn behind the gateway.

Issue 3, section 3: first visit, Reject all, Accept all without a reload, persistence and
withdrawal, the keyboard alone, axe-core in light and dark scheme, no layout shift,
screenshots; plus 320 px and 200% zoom, right-to-left, languages, GPC, Consent Mode, CSP,
the JS API, click-to-load, the cookie declaration and the no-JS forms.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from gateway.consent.state import Category
from tests.browser.site import (
    PIXEL_HOST,
    TRACKER_HOST,
    VIDEO_HOST,
    Shop,
    ThirdParties,
    banner_shown,
    jar,
    shop,
)
from tests.support.js import node_module

TITLE = "Cookies and your privacy"
THIRD_PARTY_HOSTS = {TRACKER_HOST, VIDEO_HOST, PIXEL_HOST}


def non_essential(context: BrowserContext, site: Shop) -> set[str]:
    """The cookies in the browser's jar that are not essential, by the gateway's rules."""
    policy = site.gateway.gateway.cookies
    return {n for n in jar(context) if policy.category_of(n) is not Category.ESSENTIAL}


def settled(page: Page) -> None:
    """Wait until the banner's animations ended, so screenshots and boxes are final."""
    page.evaluate("Promise.all(document.getAnimations().map((a) => a.finished))")


def bar(page: Page, title: str = TITLE) -> Any:
    return page.get_by_role("region", name=title)


def dialog(page: Page) -> Any:
    return page.get_by_role("dialog", name="Privacy preferences")


def reopen(page: Page) -> Any:
    return page.get_by_role("button", name="Privacy choices")


def active(page: Page) -> str:
    """The accessible name (roughly) of the focused element."""
    return str(
        page.evaluate(
            """() => {
                const a = document.activeElement;
                const label = a.labels && a.labels[0] && a.labels[0].textContent;
                const name = a.getAttribute("aria-label") || a.title || label || a.textContent;
                return (name || "").trim();
            }"""
        )
    )


def wait_active(page: Page, name: str) -> None:
    """Wait until ``name`` has the focus (a dialog hands it back when its close event runs)."""
    for _ in range(100):
        if active(page) == name:
            return
        page.wait_for_timeout(20)
    raise AssertionError(f"{name!r} never got the focus; {active(page)!r} has it")


def tab_to(page: Page, name: str, *, shift: bool = False, limit: int = 40) -> None:
    for _ in range(limit):
        page.keyboard.press("Shift+Tab" if shift else "Tab")
        if active(page) == name:
            return
    raise AssertionError(f"Tab never reached {name!r}")


def focus_in_dialog(page: Page) -> bool:
    return bool(page.evaluate("document.querySelector('.cg-dlg').contains(document.activeElement)"))


def ran(page: Page) -> dict[str, Any]:
    return dict(
        page.evaluate(
            """() => ({
                inline: document.getElementById("inline").textContent,
                analytics: window.analyticsRuns || 0,
                marketing: window.marketingRan === true,
                tracker: window.trackerRan === true,
            })"""
        )
    )


NOTHING_RAN = {
    "inline": "inline analytics: blocked",
    "analytics": 0,
    "marketing": False,
    "tracker": False,
}


def wait_for_hits(site: Shop, page: Page, count: int) -> None:
    for _ in range(100):
        if len(site.hits) >= count:
            return
        page.wait_for_timeout(50)


def serious_violations(page: Page) -> list[dict[str, Any]]:
    page.add_script_tag(path=str(node_module("axe-core/axe.min.js")))
    return list(
        page.evaluate(
            """async () => {
                const result = await axe.run(document, { resultTypes: ["violations"] });
                return result.violations
                    .filter((v) => v.impact === "serious" || v.impact === "critical")
                    .map((v) => ({ id: v.id, nodes: v.nodes.map((n) => n.target.join(" ")) }));
            }"""
        )
    )


def test_first_visit_shows_the_banner_with_equal_choices_and_runs_nothing(
    tmp_path: Path, context: BrowserContext, page: Page
) -> None:
    third = ThirdParties(context)
    with shop(tmp_path) as site:
        page.goto(site.url + "/")
        banner_shown(page)
        settled(page)
        buttons = [bar(page).get_by_role("button", name=n) for n in ("Accept all", "Reject all")]
        buttons.append(bar(page).get_by_role("button", name="Customize"))
        boxes = [button.bounding_box() for button in buttons]
        assert len({(round(b["width"]), round(b["height"])) for b in boxes if b}) == 1
        looks = [
            b.evaluate(
                """(e) => { const s = getComputedStyle(e);
                   return [s.backgroundColor, s.color, s.fontWeight, s.fontSize,
                           s.borderWidth]; }"""
            )
            for b in buttons
        ]
        assert looks[0] == looks[1] == looks[2]
        assert bar(page).get_by_role("link", name="Privacy policy").get_attribute("href") == (
            "/privacy"
        )
        assert jar(context) == {"sessionid"}
        assert ran(page) == NOTHING_RAN
        assert not third.hosts() & THIRD_PARTY_HOSTS
        assert site.hits == []


def test_reject_all_keeps_analytics_and_marketing_out(
    tmp_path: Path, context: BrowserContext, page: Page
) -> None:
    third = ThirdParties(context)
    with shop(tmp_path) as site:
        page.goto(site.url + "/")
        banner_shown(page)
        bar(page).get_by_role("button", name="Reject all").click()
        reopen(page).wait_for()
        assert bar(page).is_hidden()
        assert non_essential(context, site) == set()
        page.reload()
        reopen(page).wait_for()
        assert bar(page).is_hidden()
        assert ran(page) == NOTHING_RAN
        assert non_essential(context, site) == set()
        assert jar(context) == {"sessionid", "cg_consent"}
        assert not third.hosts() & THIRD_PARTY_HOSTS  # the tracker never loaded
        assert site.hits == []


def test_accept_all_runs_everything_without_a_reload(
    tmp_path: Path, context: BrowserContext, page: Page
) -> None:
    third = ThirdParties(context)
    with shop(tmp_path) as site:
        page.goto(site.url + "/")
        banner_shown(page)
        page.evaluate("window.samePage = true")
        bar(page).get_by_role("button", name="Accept all").click()
        page.wait_for_function("window.trackerRan === true && window.analyticsRuns === 1")
        assert page.evaluate("window.samePage") is True  # no reload
        assert ran(page) == {
            "inline": "inline analytics: ran",
            "analytics": 1,
            "marketing": True,
            "tracker": True,
        }
        page.frame_locator("iframe[title='Product video']").locator("#player").wait_for()
        page.wait_for_function("document.querySelector('main img').naturalWidth === 1")
        assert third.hosts() >= THIRD_PARTY_HOSTS
        wait_for_hits(site, page, 1)
        assert len(site.hits) == 1
        assert {"_ga", "_gcl_au", "_pk_id.1.1fff", "cg_consent"} <= jar(context)
        assert bar(page).is_hidden() and reopen(page).is_visible()


def test_choices_persist_across_reloads_and_can_be_withdrawn(
    tmp_path: Path, context: BrowserContext, page: Page
) -> None:
    third = ThirdParties(context)
    with shop(tmp_path) as site:
        page.goto(site.url + "/")
        banner_shown(page)
        bar(page).get_by_role("button", name="Customize").click()
        dialog(page).get_by_role("switch", name="Analytics").check()
        dialog(page).get_by_role("button", name="Save choices").click()
        reopen(page).wait_for()
        page.reload()
        page.wait_for_function("window.trackerRan === true && window.analyticsRuns === 1")
        assert bar(page).is_hidden()
        assert ran(page) == {
            "inline": "inline analytics: ran",
            "analytics": 1,
            "marketing": False,
            "tracker": True,
        }
        assert "_pk_id.1.1fff" in jar(context) and "_gcl_au" not in jar(context)

        reopen(page).click()
        switches = {
            n: dialog(page).get_by_role("switch", name=n).is_checked()
            for n in ("Preferences", "Analytics", "Marketing")
        }
        assert switches == {"Preferences": False, "Analytics": True, "Marketing": False}
        with page.expect_navigation():  # analytics ran here: withdrawing it reloads
            dialog(page).get_by_role("button", name="Reject all").click()
        third.requests.clear()
        reopen(page).wait_for()
        assert ran(page) == NOTHING_RAN
        assert non_essential(context, site) == set()
        assert not third.hosts() & THIRD_PARTY_HOSTS
        assert page.evaluate("consentGateway.get().decided") is True


def test_the_whole_flow_works_from_the_keyboard_alone(
    tmp_path: Path, context: BrowserContext, page: Page
) -> None:
    ThirdParties(context)
    with shop(tmp_path) as site:
        page.goto(site.url + "/")
        banner_shown(page)
        tab_to(page, "Customize")
        assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid"
        page.keyboard.press("Enter")
        dialog(page).wait_for()
        assert active(page) == "Close" and focus_in_dialog(page)
        for _ in range(25):  # focus cycles inside the dialog, both ways
            page.keyboard.press("Tab")
            assert focus_in_dialog(page)
        page.keyboard.press("Shift+Tab")
        tab_to(page, "Close", shift=True)
        page.keyboard.press("Shift+Tab")
        assert active(page) == "Reject all" and focus_in_dialog(page)
        page.keyboard.press("Escape")
        wait_active(page, "Customize")
        assert dialog(page).is_hidden()

        page.keyboard.press("Enter")
        tab_to(page, "Analytics")
        page.keyboard.press("Space")
        tab_to(page, "Save choices")
        page.keyboard.press("Enter")
        reopen(page).wait_for()
        wait_active(page, "Privacy choices")  # the Customize button is gone
        state = page.evaluate("consentGateway.get().categories")
        assert state == {
            "essential": True,
            "preferences": False,
            "analytics": True,
            "marketing": False,
        }
        page.wait_for_function("window.analyticsRuns === 1")

        page.keyboard.press("Enter")
        dialog(page).wait_for()
        page.keyboard.press("Escape")
        wait_active(page, "Privacy choices")
        assert dialog(page).is_hidden()

        tab_to(page, "Cookie settings")  # the page's own data-consent-open link
        page.keyboard.press("Enter")
        dialog(page).wait_for()
        page.keyboard.press("Escape")
        wait_active(page, "Cookie settings")


def test_focused_page_content_is_not_hidden_behind_the_banner(
    tmp_path: Path, context: BrowserContext, page: Page
) -> None:
    ThirdParties(context)
    with shop(tmp_path) as site:
        page.goto(site.url + "/")
        banner_shown(page)
        settled(page)
        tab_to(page, "Product video")  # mid-page: it scrolls clear of the bar
        assert not overlap(page, "main iframe", ".cg-bar")
        tab_to(page, "A link at the end of the page")  # the page cannot scroll further...
        page.wait_for_function("document.querySelector('.cg-bar.cg-top')")  # ...the bar moves
        assert not overlap(page, "#last-link", ".cg-bar")
        tab_to(page, "Home", shift=True)
        assert not overlap(page, "header a", ".cg-bar")


def overlap(page: Page, first: str, second: str) -> bool:
    return bool(
        page.evaluate(
            """([first, second]) => {
                const a = document.querySelector(first).getBoundingClientRect();
                const b = document.querySelector(second).getBoundingClientRect();
                return a.top < b.bottom && a.bottom > b.top && a.left < b.right && a.right > b.left;
            }""",
            [first, second],
        )
    )


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_no_serious_violations_in_either_layer(
    scheme: str, tmp_path: Path, context: BrowserContext, page: Page, output_dir: Path
) -> None:
    ThirdParties(context)
    page.emulate_media(color_scheme=scheme)
    with shop(tmp_path, declared_vendors=["YouTube"]) as site:
        page.goto(site.url + "/")
        banner_shown(page)
        settled(page)
        assert serious_violations(page) == []
        placeholder = page.frame_locator("iframe[title='Product video']")
        placeholder.get_by_role("button", name="Load once").wait_for()
        frame = next(f for f in page.frames if f.url == "about:srcdoc")
        frame.add_script_tag(path=str(node_module("axe-core/axe.min.js")))
        in_frame = frame.evaluate(
            """async () => (await axe.run(document)).violations
                .filter((v) => v.impact === "serious" || v.impact === "critical")
                .map((v) => v.id)"""
        )
        assert in_frame == []
        page.screenshot(path=output_dir / f"banner-first-layer-{scheme}.png")

        bar(page).get_by_role("button", name="Customize").click()
        dialog(page).locator("summary").first.wait_for()
        for summary in dialog(page).locator("summary").all():
            summary.click()
        settled(page)
        assert serious_violations(page) == []
        page.screenshot(path=output_dir / f"banner-preferences-{scheme}.png")
        dialog(page).locator("summary").first.click()
        dialog(page).screenshot(path=output_dir / f"banner-preferences-{scheme}-dialog.png")


SHIFTS = """
window.shifts = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    window.shifts.push({ value: e.value, input: e.hadRecentInput });
  }
}).observe({ type: "layout-shift", buffered: true });
"""


def shifts(page: Page) -> list[dict[str, Any]]:
    """The layout shifts so far, once two frames were drawn and their entries delivered."""
    page.evaluate(
        """new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(
               () => setTimeout(done, 100))))"""
    )
    return list(page.evaluate("window.shifts"))


def test_the_banner_causes_no_layout_shift(
    tmp_path: Path, context: BrowserContext, page: Page
) -> None:
    ThirdParties(context)
    context.add_init_script(SHIFTS)
    with shop(tmp_path) as site:
        page.goto(site.url + "/")
        banner_shown(page)
        settled(page)
        page.frame_locator("iframe").get_by_role("button", name="Load once").wait_for()
        assert shifts(page) == []  # the banner and the placeholder appeared: nothing moved
        bar(page).get_by_role("button", name="Customize").click()
        dialog(page).locator("summary").first.wait_for()
        page.keyboard.press("Escape")
        bar(page).get_by_role("button", name="Accept all").click()
        page.wait_for_function("window.trackerRan === true")
        page.frame_locator("iframe").locator("#player").wait_for()
        settled(page)
        assert sum(s["value"] for s in shifts(page) if not s["input"]) == 0
        # The measurement works: content pushed down by an in-flow box is a shift.
        page.evaluate("window.scrollTo(0, 0)")
        page.wait_for_timeout(600)  # past the 500 ms in which a shift counts as caused by input
        page.evaluate(
            """() => { const d = document.createElement("div"); d.style.height = "80px";
                       document.querySelector("main").prepend(d); }"""
        )
        assert sum(s["value"] for s in shifts(page) if not s["input"]) > 0


@pytest.mark.parametrize(
    ("width", "height", "scale", "name"),
    [(320, 640, 1, "320px"), (640, 400, 2, "zoom-200")],  # 1280x800 at 200% zoom
)
def test_usable_at_320_px_and_at_200_percent_zoom(
    width: int,
    height: int,
    scale: int,
    name: str,
    tmp_path: Path,
    browser: Browser,
    output_dir: Path,
) -> None:
    context = browser.new_context(
        viewport={"width": width, "height": height}, device_scale_factor=scale
    )
    ThirdParties(context)
    page = context.new_page()
    with shop(tmp_path) as site:
        page.goto(site.url + "/")
        banner_shown(page)
        settled(page)
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        page.screenshot(path=output_dir / f"banner-first-layer-{name}.png")
        for label in ("Accept all", "Reject all", "Customize"):
            button = bar(page).get_by_role("button", name=label)
            button.scroll_into_view_if_needed()
            box = button.bounding_box()
            assert box and box["x"] >= 0 and box["x"] + box["width"] <= width
            assert box["y"] >= 0 and box["y"] + box["height"] <= height
        bar(page).get_by_role("button", name="Customize").click()
        settled(page)
        box = dialog(page).bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= width
        page.screenshot(path=output_dir / f"banner-preferences-{name}.png")
        save = dialog(page).get_by_role("button", name="Save choices")
        save.scroll_into_view_if_needed()
        save.click()
        reopen(page).wait_for()
    context.close()


def test_reduced_motion_turns_the_animation_off(
    tmp_path: Path, context: BrowserContext, page: Page
) -> None:
    ThirdParties(context)
    with shop(tmp_path) as site:
        page.emulate_media(reduced_motion="reduce")
        page.goto(site.url + "/")
        banner_shown(page)
        assert page.locator(".cg-bar").evaluate("e => getComputedStyle(e).animationName") == (
            "none"
        )
        page.emulate_media(reduced_motion="no-preference")
        assert page.locator(".cg-bar").evaluate("e => getComputedStyle(e).animationName") == (
            "cg-in"
        )


ARABIC = {
    "dir": "rtl",
    "title": "ملفات تعريف الارتباط وخصوصيتك",
    "text": "نستخدم ملفات تعريف الارتباط الضرورية لكي يعمل هذا الموقع. وبموافقتك نستخدمها أيضًا"
    " لتذكّر إعداداتك وقياس استخدام الموقع ولأغراض التسويق.",
    "policy": "سياسة الخصوصية",
    "accept": "قبول الكل",
    "reject": "رفض الكل",
    "customize": "تخصيص",
    "prefs_title": "تفضيلات الخصوصية",
    "prefs_text": "اختر ملفات تعريف الارتباط التي يمكن لهذا الموقع استخدامها.",
    "save": "حفظ الاختيارات",
    "close": "إغلاق",
    "reopen": "خيارات الخصوصية",
    "always_on": "مفعّلة دائمًا",
    "cookies": "ملفات تعريف الارتباط",
    "name": "الاسم",
    "vendor": "المزوّد",
    "purpose": "الغرض",
    "retention": "مدة الاحتفاظ",
    "none": "لا شيء قيد الاستخدام.",
    "gpc": "أرسل متصفحك إشارة التحكم العالمي في الخصوصية، ونحن نحترمها.",
    "blocked": "هذا المحتوى من {host} محجوب حتى تسمح بملفات {category}.",
    "load": "تحميل مرة واحدة",
    "allow": "السماح بـ{category}",
    "saved": "تم حفظ اختيارك.",
    "error": "تعذّر حفظ اختيارك. حاول مرة أخرى.",
    "essential": "ضرورية",
    "essential_text": "لازمة لعمل الموقع.",
    "preferences": "التفضيلات",
    "preferences_text": "تتذكر اختياراتك مثل اللغة.",
    "analytics": "التحليلات",
    "analytics_text": "تساعدنا على فهم استخدام الموقع.",
    "marketing": "التسويق",
    "marketing_text": "لعرض إعلانات ملائمة وقياسها.",
}


def test_right_to_left_layout(
    tmp_path: Path, context: BrowserContext, page: Page, output_dir: Path
) -> None:
    ThirdParties(context)
    with shop(tmp_path, banner_texts={"ar": ARABIC}) as site:
        page.goto(site.url + "/?lang=ar")
        banner_shown_ar = bar(page, ARABIC["title"])
        banner_shown_ar.wait_for()
        settled(page)
        root = page.locator("#cg")
        assert (root.get_attribute("dir"), root.get_attribute("lang")) == ("rtl", "ar")
        assert page.locator(".cg-bar").evaluate("e => getComputedStyle(e).direction") == "rtl"
        accept = banner_shown_ar.get_by_role("button", name=ARABIC["accept"]).bounding_box()
        reject = banner_shown_ar.get_by_role("button", name=ARABIC["reject"]).bounding_box()
        assert accept and reject and accept["x"] > reject["x"]  # the first choice on the right
        page.screenshot(path=output_dir / "banner-first-layer-rtl.png")
        banner_shown_ar.get_by_role("button", name=ARABIC["customize"]).click()
        settled(page)
        page.screenshot(path=output_dir / "banner-preferences-rtl.png")
        page.get_by_role("dialog").get_by_role("button", name=ARABIC["reject"]).click()
        control = page.get_by_role("button", name=ARABIC["reopen"])
        control.wait_for()
        box = control.bounding_box()
        viewport = page.viewport_size
        assert box and viewport and box["x"] > viewport["width"] / 2  # at the inline start
        # An English banner on a right-to-left page keeps English's direction.
        context.clear_cookies()
        page.goto(site.url + "/?lang=he")
        banner_shown(page)
        assert page.locator("#cg").get_attribute("dir") == "ltr"


def test_language_from_the_page_then_from_the_browser(tmp_path: Path, browser: Browser) -> None:
    context = browser.new_context(locale="fr-FR")
    third = ThirdParties(context)
    page = context.new_page()
    with shop(tmp_path) as site:
        page.goto(site.url + "/?lang=de")
        bar(page, "Cookies und Ihre Privatsphäre").wait_for()
        page.goto(site.url + "/?lang=xx")
        bar(page, "Les cookies et votre vie privée").wait_for()
        locales = [
            url.rsplit("/", 1)[1].split(".")[0]
            for url in third.requests
            if "/_consent/locales/" in url
        ]
        assert locales == ["de", "fr"]  # only the visitor's language, once per page
    context.close()


def test_global_privacy_control_keeps_marketing_off_and_says_so(
    tmp_path: Path, browser: Browser
) -> None:
    context = browser.new_context(extra_http_headers={"Sec-GPC": "1"})
    context.add_init_script(
        "Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', {get: () => true})"
    )
    ThirdParties(context)
    page = context.new_page()
    with shop(tmp_path, default_regime="opt-out") as site:
        page.goto(site.url + "/")
        banner_shown(page)
        assert "Global Privacy Control" in (bar(page).locator(".cg-gpc").text_content() or "")
        page.wait_for_function("window.analyticsRuns === 1")  # opt-out: analytics allowed
        assert ran(page)["marketing"] is False
        bar(page).get_by_role("button", name="Customize").click()
        assert not dialog(page).get_by_role("switch", name="Marketing").is_checked()
        assert dialog(page).get_by_role("switch", name="Analytics").is_checked()
        assert "Global Privacy Control" in (dialog(page).locator(".cg-gpc").text_content() or "")
        dialog(page).get_by_role("button", name="Accept all").click()
        reopen(page).wait_for()
        assert page.evaluate("consentGateway.get().categories.marketing") is False
        assert ran(page)["marketing"] is False
        reopen(page).click()  # only the switch itself turns marketing on
        dialog(page).get_by_role("switch", name="Marketing").check()
        dialog(page).get_by_role("button", name="Save choices").click()
        page.wait_for_function("window.marketingRan === true")
    context.close()


def test_a_gpc_signal_the_server_did_not_see_still_refuses_marketing(
    tmp_path: Path, browser: Browser
) -> None:
    context = browser.new_context()  # no Sec-GPC header: only navigator.globalPrivacyControl
    context.add_init_script(
        "Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', {get: () => true})"
    )
    ThirdParties(context)
    page = context.new_page()
    with shop(tmp_path, default_regime="opt-out") as site:
        page.goto(site.url + "/")
        banner_shown(page)
        page.wait_for_function("window.analyticsRuns === 1")
        assert page.evaluate("consentGateway.allows('marketing')") is False
        assert ran(page)["marketing"] is False
    context.close()


def test_consent_mode_defaults_before_any_tag_then_updates_on_a_choice(
    tmp_path: Path, context: BrowserContext, page: Page
) -> None:
    ThirdParties(context)
    with shop(tmp_path, consent_mode=True) as site:
        page.goto(site.url + "/")
        banner_shown(page)
        layer = page.evaluate("dataLayer.map((args) => Array.from(args))")
        assert layer[0][:2] == ["consent", "default"] and len(layer) == 1
        assert layer[0][2]["ad_user_data"] == "denied" and layer[0][2]["wait_for_update"] == 500
        bar(page).get_by_role("button", name="Accept all").click()
        page.wait_for_function("dataLayer.length === 2")
        update = page.evaluate("Array.from(dataLayer[1])")
        assert update[:2] == ["consent", "update"]
        assert set(update[2].values()) == {"granted"} and len(update[2]) == 7


def test_a_page_with_a_nonce_policy_runs_the_banner_without_violations(
    tmp_path: Path, context: BrowserContext, page: Page
) -> None:
    ThirdParties(context)
    context.add_init_script(
        """window.violations = [];
           document.addEventListener("securitypolicyviolation",
             (e) => window.violations.push(e.violatedDirective + " " + e.blockedURI));"""
    )
    with shop(tmp_path, consent_mode=True) as site:
        page.goto(site.url + "/?nonce=r4nd0mn0nce")
        banner_shown(page)
        bar(page).get_by_role("button", name="Accept all").click()
        poll(page, "window.trackerRan === true && window.analyticsRuns === 1")
        assert ran(page)["inline"] == "inline analytics: ran" and ran(page)["marketing"]
        assert page.evaluate("window.violations") == []
        # The policy is enforced: a script without the nonce is refused.
        page.evaluate(
            """() => { const s = document.createElement("script");
                       s.src = "/analytics.js"; document.body.append(s); }"""
        )
        poll(page, "window.violations.length === 1")


def poll(page: Page, condition: str) -> None:
    """``wait_for_function`` without eval, which a strict CSP refuses."""
    for _ in range(200):
        if page.evaluate(condition):
            return
        page.wait_for_timeout(25)
    raise AssertionError(f"never true: {condition}")


def test_the_javascript_api(tmp_path: Path, context: BrowserContext, page: Page) -> None:
    ThirdParties(context)
    with shop(tmp_path) as site:
        page.goto(site.url + "/")
        banner_shown(page)
        result = page.evaluate(
            """async () => {
                const api = window.consentGateway;
                const seen = [], events = [];
                const off = api.on("change", (s) => seen.push(s.categories.preferences));
                document.addEventListener("consent:change",
                    (e) => events.push(e.detail.categories.preferences));
                const before = api.allows("preferences");
                const after = await api.set({ preferences: true });
                let refused = null;
                try { await api.set({ tracking: true }); } catch (e) { refused = e.message; }
                off();
                await api.set({ preferences: false });
                return { before, after: after.categories, seen, events, refused,
                         now: api.get() };
            }"""
        )
        assert result["before"] is False
        assert result["after"] == {
            "essential": True,
            "preferences": True,
            "analytics": False,
            "marketing": False,
        }
        assert result["seen"] == [True]  # unsubscribed before the second change
        assert result["events"] == [True, False]
        assert result["refused"] == "unknown category tracking"
        assert result["now"]["decided"] is True and result["now"]["regime"] == "opt-in"
        page.evaluate("consentGateway.open()")
        dialog(page).wait_for()
        assert active(page) == "Close"
        page.evaluate("consentGateway.acceptAll()")
        page.wait_for_function("window.marketingRan === true")


def test_click_to_load_once_or_for_good(
    tmp_path: Path, context: BrowserContext, page: Page
) -> None:
    third = ThirdParties(context)
    with shop(tmp_path) as site:
        page.goto(site.url + "/")
        banner_shown(page)
        player = page.frame_locator("iframe[title='Product video']")
        assert "www.youtube-nocookie.com" in (player.locator("p").first.text_content() or "")
        player.get_by_role("button", name="Load once").click()
        player.locator("#player").wait_for()
        assert page.evaluate("consentGateway.allows('marketing')") is False
        assert ran(page)["marketing"] is False and PIXEL_HOST not in third.hosts()
        page.reload()
        player.get_by_role("button", name="Allow Marketing").click()
        player.locator("#player").wait_for()
        page.wait_for_function("window.marketingRan === true")
        assert page.evaluate("consentGateway.get().categories") == {
            "essential": True,
            "preferences": False,
            "analytics": False,
            "marketing": True,
        }


def test_the_preferences_dialog_is_the_cookie_declaration(
    tmp_path: Path, context: BrowserContext, page: Page
) -> None:
    ThirdParties(context)
    with shop(tmp_path, declared_vendors=["YouTube"]) as site:
        page.goto(site.url + "/")
        banner_shown(page)
        bar(page).get_by_role("button", name="Customize").click()

        def listed(category: str) -> list[str]:
            item = dialog(page).locator(".cg-cat").filter(has_text=category)
            item.locator("summary").click()
            return [t.strip() for t in item.locator("dd code").all_text_contents()]

        # The gateway's and the site's (sessionid), then the declared player's own.
        youtube = ["LOGIN_INFO", "VISITOR_PRIVACY_METADATA", "YSC"]
        assert listed("Essential") == ["cg_consent", "sessionid", *youtube]
        assert listed("Analytics") == ["_ga"]  # set by this site; no other analytics cookie
        assert listed("Marketing") == ["VISITOR_INFO1_LIVE"]
        marketing = dialog(page).locator(".cg-cat").filter(has_text="Marketing")
        assert "VISITOR_INFO1_LIVE (youtube.com)" in (marketing.text_content() or "")
        item = dialog(page).locator(".cg-cat").filter(has_text="Analytics")
        assert "Google Analytics" in (item.text_content() or "")
        assert "2 years" in (item.text_content() or "")


def test_without_javascript_the_no_script_forms_decide(
    tmp_path: Path, browser: Browser, output_dir: Path
) -> None:
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    with shop(tmp_path) as site:
        page.goto(site.url + "/")
        forms = page.get_by_role("region", name=TITLE)
        page.screenshot(path=output_dir / "banner-no-javascript.png")
        forms.get_by_role("button", name="Reject all").click()
        page.wait_for_url(site.url + "/")
        assert jar(context) == {"sessionid", "cg_consent"}
        page.locator("summary", has_text="Privacy choices").click()  # folded once decided
        page.get_by_role("checkbox", name="Analytics").check()
        page.get_by_role("button", name="Save choices").click()
        page.wait_for_url(site.url + "/")
        page.reload()
        assert "_ga" in jar(context) and "_gcl_au" not in jar(context)
    context.close()


def test_a_site_themes_the_banner_with_custom_properties(
    tmp_path: Path, context: BrowserContext, page: Page
) -> None:
    ThirdParties(context)
    with shop(tmp_path) as site:
        page.goto(site.url + "/")
        banner_shown(page)
        accept = bar(page).get_by_role("button", name="Accept all")
        before = accept.evaluate("(e) => getComputedStyle(e).backgroundColor")
        page.add_style_tag(content=".cg { --cg-accent: #8a1538; --cg-radius: 0; }")
        looks = accept.evaluate(
            "(e) => [getComputedStyle(e).backgroundColor, getComputedStyle(e).borderRadius]"
        )
        assert before == "rgb(26, 86, 196)"
        assert looks == ["rgb(138, 21, 56)", "0px"]
