"""Tracker neutralisation calls per second on a realistic mix of tags, on one core.

(a) ``start_tag`` over a page-like mix of 20,000 start tags: 80% markup (div, a, span, li,
    p, meta...), 12% first-party scripts, images and iframes, 6% third-party non-trackers
    (CDNs, fonts), 2% trackers, each URL distinct within the page; measured as the best of
    five passes, so the URL memo has seen them (a site's repeated asset URLs are what it is
    for), and with the memo cleared before every call.
(b) ``inline_script`` over 2,000 inline scripts: 90% ordinary (1-8 KB of site code, JSON
    state), 10% vendor snippets, and the worst case of a 32 KB script without any snippet.

Every figure is printed with its ratio to ``dict.get`` on the tag names in the same run,
because the machines here are noisy; the inline figures are against one ``in`` (a single
substring search, what a one-vendor check would cost) on the same scripts.

    .venv/bin/python benchmarks/bench_trackers.py
"""

from __future__ import annotations

import random
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.consent.state import Category
from gateway.html.rewriter import Tag
from gateway.html.trackers import INLINE_SCAN_LIMIT, TrackerRules

GRANTED = frozenset({Category.ESSENTIAL})
TAGS = 20_000
SCRIPTS = 2_000


def per_second(call: Callable[[object], object], items: Sequence[object], repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        deque(map(call, items), maxlen=0)
        best = min(best, time.perf_counter() - start)
    return len(items) / best


def tag(name: str, **attrs: str) -> Tag:
    pairs = [(key.replace("_", "-"), value) for key, value in attrs.items()]
    raw = "<" + name + "".join(f' {key}="{value}"' for key, value in pairs) + ">"
    return Tag(name, list(pairs), raw.encode())


def page_tags(rng: random.Random) -> list[Tag]:
    trackers = [
        "https://www.googletagmanager.com/gtm.js?id=GTM-{n}",
        "https://connect.facebook.net/en_US/fbevents.js?{n}",
        "https://static.hotjar.com/c/hotjar-{n}.js?sv=6",
        "https://www.facebook.com/tr?id={n}&ev=PageView",
        "https://www.youtube.com/embed/{n}",
    ]
    third_party = [
        "https://cdn.jsdelivr.net/npm/lib@{n}/dist/lib.min.js",
        "https://fonts.googleapis.com/css2?family=Inter{n}",
        "https://images.ctfassets.net/space/{n}/hero.jpg",
        "https://www.google.com/recaptcha/api.js?render={n}",
    ]
    markup = ["div", "a", "span", "li", "p", "meta", "section", "button", "svg", "path"]
    tags: list[Tag] = []
    for n in range(TAGS):
        roll = rng.random()
        if roll < 0.80:
            tags.append(tag(rng.choice(markup), class_=f"c{n}", href=f"/page/{n}"))
        elif roll < 0.92:
            name = rng.choice(["script", "img", "iframe"])
            tags.append(tag(name, src=f"/static/{n}.js", alt="x"))
        elif roll < 0.98:
            tags.append(tag(rng.choice(["script", "img"]), src=rng.choice(third_party).format(n=n)))
        else:
            url = rng.choice(trackers).format(n=n)
            tags.append(tag("iframe" if "embed" in url else "script", src=url, async_="async"))
    return tags


def inline_scripts(rng: random.Random) -> list[bytes]:
    site = (
        b"document.querySelectorAll('.menu a').forEach(function (link) {"
        b" link.addEventListener('click', function (event) { toggle(event, link); }); });\n"
    )
    state = b'window.__STATE__ = {"user": null, "items": [1, 2, 3], "flags": {"beta": true}};\n'
    snippets = [
        b"(function(w,d,s,l,i){w[l]=w[l]||[];w[l].push({'gtm.start':new Date().getTime()});"
        b"})(window,document,'script','dataLayer','GTM-X');",
        b"!function(f,b,e,v){}(window,document,'script','https://connect.facebook.net/en_US/"
        b"fbevents.js');fbq('init', '1');fbq('track', 'PageView');",
        b"(function(h,o,t,j,a,r){h._hjSettings={hjid:1,hjsv:6};})(window,document,"
        b"'https://static.hotjar.com/c/hotjar-','.js?sv=');",
    ]
    scripts: list[bytes] = []
    for _ in range(SCRIPTS):
        if rng.random() < 0.9:
            scripts.append(rng.choice([site, state]) * rng.randint(8, 60))
        else:
            scripts.append(rng.choice(snippets))
    return scripts


def report(label: str, rate: float, baseline: float, against: str = "dict.get") -> None:
    print(f"{label:<52} {rate:>12,.0f} /s  {rate / baseline:>6.1%} of {against}")


def main() -> None:
    rng = random.Random(3)
    rules = TrackerRules.load()
    tags = page_tags(rng)
    gated = sum(rules.start_tag(t, GRANTED) is not None for t in tags)
    print(f"{len(rules.trackers)} vendors; {len(tags):,} tags, {gated:,} gated")
    table = dict.fromkeys(["script", "img", "iframe"])
    names = [t.name for t in tags]
    baseline = per_second(table.get, names)
    print(f"{'baseline: dict.get on the tag names':<52} {baseline:>12,.0f} /s")

    def start_tag(item: object) -> object:
        assert isinstance(item, Tag)
        return rules.start_tag(item, GRANTED)

    seen = per_second(start_tag, tags)
    report("(a) start_tag, page mix, URLs seen before (memo)", seen, baseline)
    cold = TrackerRules.load()
    cold_rate = 0.0
    for _ in range(3):
        cold._memo.clear()

        def no_memo(item: object, rules: TrackerRules = cold) -> object:
            assert isinstance(item, Tag)
            rules._memo.clear()
            return rules.start_tag(item, GRANTED)

        cold_rate = max(cold_rate, per_second(no_memo, tags, repeat=1))
    report("(a) start_tag, page mix, every URL new (no memo)", cold_rate, baseline)

    scripts = inline_scripts(rng)
    sizes = sorted(len(s) for s in scripts)
    gated = sum(rules.inline_script(tag("script"), s, GRANTED) is not None for s in scripts)
    median = sizes[len(sizes) // 2]
    print(f"{len(scripts):,} inline scripts, median {median:,} bytes, {gated} gated")
    script_tag = tag("script")

    def inline(item: object) -> object:
        assert isinstance(item, bytes)
        return rules.inline_script(script_tag, item, GRANTED)

    def one_search(item: object) -> object:
        assert isinstance(item, bytes)
        return b"fbq" in item

    rate = per_second(inline, scripts)
    report("(b) inline_script, mix", rate, per_second(one_search, scripts), "one `in`")
    worst = [(b"var a = 1; " * (INLINE_SCAN_LIMIT // 11 + 1))[:INLINE_SCAN_LIMIT]] * 200
    worst_rate = per_second(inline, worst)
    label = f"(b) inline_script, {INLINE_SCAN_LIMIT // 1024} KB without a snippet"
    report(label, worst_rate, per_second(one_search, worst), "one `in`")
    print(f"    = {1e6 / worst_rate:,.0f} us per 32 KB script, {1e6 / rate:,.1f} us per mix script")


if __name__ == "__main__":
    main()
