"""Shared test material for the HTML rewriter: markers, a small real tracker hook, documents."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from urllib.parse import urlsplit

from hypothesis import strategies as st

from gateway.consent.state import Category
from gateway.html.rewriter import HtmlRewriter, Tag, TrackerHook

# Bytes that no generated document contains, so the inserted parts can be found and removed.
HEAD = b"\x01HEAD\x01"
BODY = b"\x01BODY\x01"


def rewrite(
    doc: bytes,
    chunks: Iterable[bytes] | None = None,
    *,
    head: bytes = HEAD,
    body: bytes = BODY,
    trackers: TrackerHook | None = None,
    granted: frozenset[Category] = frozenset({Category.ESSENTIAL}),
    **options: int,
) -> tuple[bytes, HtmlRewriter]:
    """The whole output for ``doc`` fed as ``chunks`` (default: one chunk)."""
    rewriter = HtmlRewriter(head, body, trackers=trackers, granted=granted, **options)
    out = [rewriter.feed(chunk) for chunk in (chunks if chunks is not None else [doc])]
    out.append(rewriter.finish())
    return b"".join(out), rewriter


def split(doc: bytes, cuts: Iterable[int]) -> list[bytes]:
    points = sorted({min(max(cut, 0), len(doc)) for cut in cuts})
    bounds = [0, *points, len(doc)]
    return [doc[a:b] for a, b in itertools.pairwise(bounds)]


class HostRules:
    """A small tracker hook: scripts, images and frames from listed hosts, and inline scripts
    that mention them, are made inert in the gated form the banner understands."""

    def __init__(self, hosts: dict[str, Category]) -> None:
        self.hosts = hosts
        self.seen: list[Tag] = []
        self.inline: list[bytes] = []

    def _category(self, url: str | None) -> Category | None:
        if not url:
            return None
        host = urlsplit(url if "//" in url else "//" + url).hostname or ""
        return self.hosts.get(host)

    def start_tag(self, tag: Tag, granted: frozenset[Category]) -> bytes | None:
        self.seen.append(tag)
        attrs = dict(tag.attrs)
        category = self._category(attrs.get("src"))
        if category is None or category in granted:
            return None
        kind = ' type="text/plain"' if tag.name == "script" else ""
        src = attrs["src"]
        return f'<{tag.name} data-consent="{category.value}" data-src="{src}"{kind}>'.encode()

    def inline_script(self, tag: Tag, text: bytes, granted: frozenset[Category]) -> bytes | None:
        self.seen.append(tag)
        self.inline.append(text)
        for host, category in self.hosts.items():
            if host.encode() in text and category not in granted:
                return f'<script type="text/plain" data-consent="{category.value}">'.encode()
        return None


TRACKERS = {
    "www.googletagmanager.com": Category.ANALYTICS,
    "connect.facebook.net": Category.MARKETING,
    "www.facebook.com": Category.MARKETING,
    "www.youtube.com": Category.MARKETING,
}

# Pieces that exercise every tokenizer state the rewriter must not insert into.
PIECES = [
    b"<!doctype html>",
    b'<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" "x>y">',
    b"<html lang=en>",
    b"<head>",
    b"<HEAD>",
    b'<head data-x="<body>">',
    b"<header>",
    b"</head>",
    b"</HEAD >",
    b"<body>",
    b"<BODY class='a>b'>",
    b"<bodyx>",
    b"</body>",
    b"<meta charset=utf-8>",
    b'<meta name="viewport" content="<head>">',
    b'<meta http-equiv="Content-Type" content="text/html; charset=utf-8">',
    b"<title>",
    b"</title>",
    b"<script>",
    b'<script src="https://www.googletagmanager.com/gtag/js?id=G-1">',
    b"<script type=module>",
    b"</script>",
    b"</script >",
    b"<!--",
    b"-->",
    b"--!>",
    b"<!-->",
    b"<style>",
    b"</style>",
    b"<textarea>",
    b"</textarea>",
    b"<iframe src=//www.youtube.com/embed/x>",
    b"</iframe>",
    b"<noscript>",
    b"</noscript>",
    b'<img src="https://www.facebook.com/tr?id=1&amp;ev=PageView" alt="">',
    b'<img srcset="https://www.facebook.com/tr 1x">',
    b'<link rel=preload as=script href="https://connect.facebook.net/a.js">',
    b"<object data=//www.youtube.com/embed/o>",
    b"</object>",
    b"<embed src=//www.youtube.com/embed/e>",
    b'<base href="https://www.facebook.com/">',
    b"<![CDATA[",
    b"]]>",
    b"<?xml version='1.0'?>",
    b"</>",
    b"<p class=x>",
    b"</p>",
    b"<a href='/x?a=1&region=eu'>",
    b"<svg><title>t</title></svg>",
    b"<xmp>",
    b"</xmp>",
    b"<",
    b">",
    b"'",
    b'"',
    b"=",
    b"\xef\xbb\xbf",
    b"connect.facebook.net",
    b"\n",
    b" ",
]

TEXT = st.text(alphabet="<>/!-=\"' \nabdhypst?[]", max_size=12).map(str.encode)
DOCUMENTS = st.lists(st.one_of(st.sampled_from(PIECES), TEXT), max_size=40).map(b"".join)
CUTS = st.lists(st.integers(min_value=0, max_value=2000), max_size=12)
