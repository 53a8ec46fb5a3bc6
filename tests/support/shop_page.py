"""A realistic 50 KB shop page (the same bytes on every run): the HTML tests measure
compression and injection on it, and ``benchmarks/html_apps.py`` serves it."""

from __future__ import annotations

import itertools
import random

PAGE_SIZE = 50 * 1024

_WORDS = (  # noqa: SIM905 - prose reads better than 170 quoted words
    "the of and to in a is that for it as was with be by on not he this are or his from at "
    "which but have an they you were her she there one all we their can has more been if "
    "would when will who so no out up into do time about than only its other some could "
    "new them these two may first then any like now my such our over man me even most made "
    "after also did many before must through back years where much your way well down "
    "should because each just those people how too little state good very make world still "
    "own see men work long get here between both life being under never day same another "
    "know while last might us great old year off come since against go came right used "
    "take three garden kettle shipping returns warranty stainless ceramic handmade walnut "
    "linen delivery basket checkout review rating colour size stock order account wishlist"
).split()


_ZIPF = list(itertools.accumulate(1 / rank for rank in range(1, len(_WORDS) + 1)))


def _text(rng: random.Random, words: int) -> str:
    # Zipf's law: the word of rank r comes with weight 1/r, as in real prose.
    sentence = " ".join(rng.choices(_WORDS, cum_weights=_ZIPF, k=words))
    return sentence[:1].upper() + sentence[1:] + "."


def page(token: str = "0" * 32, seed: int = 2026) -> bytes:
    """A shop's product listing: head with metas, preloads, inline CSS, JSON-LD and an
    analytics snippet; navigation, product cards, an article, a table, a footer."""
    rng = random.Random(seed)
    css = "\n".join(
        f".c{i} {{ margin: {rng.randint(0, 24)}px; color: #{rng.randrange(0xFFFFFF):06x}; "
        f"display: {rng.choice(['flex', 'grid', 'block'])}; }}"
        for i in range(60)
    )
    head = (
        f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Kitchen &amp; Garden · Handmade Shop</title>
<meta name="description" content="{_text(rng, 24)}">
<link rel="preconnect" href="https://cdn.shop.example">
<link rel="stylesheet" href="/static/app.3f9c2e.css">
<link rel="icon" href="/favicon.ico">
<style>
{css}
</style>
<script type="application/ld+json">{{"@context":"https://schema.org","@type":"Store",
"name":"Kitchen &amp; Garden","url":"https://shop.example/"}}</script>
<script async src="https://www.googletagmanager.com/gtag/js?id=G-BENCH1234"></script>
<script>window.dataLayer=window.dataLayer||[];function gtag(){{dataLayer.push(arguments);}}
gtag('js',new Date());gtag('config','G-BENCH1234');</script>
</head>
<body class="c1">
<header class="site"><nav><ul>
"""
        + "".join(
            f'<li><a href="/c/{w}">{w.title()}</a></li>\n' for w in rng.sample(_WORDS[-22:], 12)
        )
        + "</ul></nav></header>\n<main>\n"
    )
    parts = [head]
    size = len(head)
    item = 0
    tail = f"""</main>
<form method="post" action="/newsletter"><input type="hidden" name="csrf" value="{token}">
<input type="email" name="email" placeholder="you@example.com"><button>Subscribe</button></form>
<footer class="c2"><p>{{}}</p><p>&copy; 2026 Kitchen &amp; Garden</p></footer>
<script src="/static/app.3f9c2e.js" defer></script>
</body>
</html>
"""
    while size < PAGE_SIZE - len(tail) - 600:
        kind = rng.random()
        item += 1
        if kind < 0.5:
            price = rng.randint(5, 400) + rng.choice([0.0, 0.5, 0.99])
            block = (
                f'<article class="card c{rng.randint(3, 59)}" '
                f'data-sku="SKU-{rng.randint(1, 99999):05d}">'
                f'<a href="/p/{item}-{rng.choice(_WORDS[-22:])}">'
                f'<img src="https://cdn.shop.example/img/{rng.getrandbits(40):010x}.webp" '
                f'alt="{_text(rng, 5)}" width="320" height="240" loading="lazy"></a>'
                f"<h3>{_text(rng, rng.randint(3, 7))}</h3>"
                f'<p class="price">€{price:.2f}</p><p>{_text(rng, rng.randint(12, 40))}</p>'
                f'<button class="add" data-id="{item}">Add to basket</button></article>\n'
            )
        elif kind < 0.8:
            block = (
                f"<section><h2>{_text(rng, rng.randint(2, 6))}</h2>"
                + "".join(f"<p>{_text(rng, rng.randint(20, 70))}</p>" for _ in range(2))
                + "</section>\n"
            )
        else:
            rows = "".join(
                f"<tr><td>{rng.choice(_WORDS)}</td><td>{rng.randint(1, 500)} g</td>"
                f"<td>{rng.randint(1, 99)}%</td></tr>"
                for _ in range(rng.randint(3, 8))
            )
            block = f'<table class="specs"><tbody>{rows}</tbody></table>\n'
        parts.append(block)
        size += len(block)
    parts.append(tail.replace("{}", _text(rng, 30)))
    return "".join(parts).encode()


PAGE = page()
