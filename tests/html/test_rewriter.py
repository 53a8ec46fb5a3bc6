"""The streaming HTML rewriter on its own: where the banner goes, and where it never goes."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.consent.state import ALL_GRANTED, Category
from gateway.html.rewriter import (
    GAVE_UP,
    INLINE_SCRIPT_LIMIT,
    INSERTED,
    LOOKAHEAD,
    NO_PLACE,
    NOT_ASCII,
    NOT_WANTED,
    HtmlRewriter,
    tag_of,
    unescape_attribute,
    xml_syntax,
)
from gateway.html.trackers import TrackerRules
from tests.support.html_docs import (
    BODY,
    CUTS,
    DOCUMENTS,
    HEAD,
    TRACKERS,
    HostRules,
    rewrite,
    split,
)


def place(doc: bytes, **options: int) -> bytes:
    return rewrite(doc, **options)[0]


def test_the_head_part_goes_right_after_the_head_start_tag() -> None:
    doc = b'<!doctype html><html><head lang="en"><title>x</title></head><body><p>hi</p>'
    assert place(doc) == (
        b'<!doctype html><html><head lang="en">'
        + HEAD
        + b"<title>x</title></head><body>"
        + BODY
        + b"<p>hi</p>"
    )


def test_tag_names_are_case_insensitive() -> None:
    assert place(b"<HTML><HeAd><TITLE>x</TITLE></HEAD><BODY>") == (
        b"<HTML><HeAd>" + HEAD + b"<TITLE>x</TITLE></HEAD><BODY>" + BODY
    )


def test_header_and_bodyx_are_not_head_and_body() -> None:
    assert place(b"<header>a</header><bodyx><p>") == b"<header>a</header><bodyx><p>" + HEAD


def test_without_a_head_tag_it_goes_before_the_head_end_tag() -> None:
    assert place(b"<html><title>x</title></head><body>") == (
        b"<html><title>x</title>" + HEAD + b"</head><body>" + BODY
    )


def test_without_head_tags_it_goes_after_the_body_start_tag() -> None:
    assert place(b"<title>x</title><body class=a><p>") == (
        b"<title>x</title><body class=a>" + HEAD + BODY + b"<p>"
    )


def test_without_head_or_body_it_goes_at_the_very_end() -> None:
    assert place(b"<p>just a fragment</p>") == b"<p>just a fragment</p>" + HEAD


@pytest.mark.parametrize(
    "unterminated",
    [b"<!-- open", b"<textarea>typed", b"<title>t", b"<div class=\"a", b"<p", b"</", b"<!",
     b"<script>x", b"<noscript><p>", b"<style>", b"<!DOCTYPE html"],
)  # fmt: skip
def test_no_banner_at_the_end_of_a_document_that_ends_inside_a_construct(
    unterminated: bytes,
) -> None:
    doc = b"<p>text</p>" + unterminated
    out, rewriter = rewrite(doc)
    assert out == doc and rewriter.outcome == NO_PLACE


def test_cdata_is_a_bogus_comment_in_html_content() -> None:
    # Outside SVG and MathML, "<![CDATA[" ends at the first ">", as in browsers.
    hook = HostRules(TRACKERS)
    rewrite(b"<![CDATA[x>y<img src=//www.facebook.com/tr>]]>", trackers=hook)
    assert [tag.name for tag in hook.seen] == ["img"]
    inside_svg = HostRules(TRACKERS)
    rewrite(b"<svg><![CDATA[x>y<img src=//www.facebook.com/tr>]]></svg>", trackers=inside_svg)
    assert inside_svg.seen == []


def test_an_empty_document_stays_empty() -> None:
    out, rewriter = rewrite(b"")
    assert out == b"" and rewriter.outcome == NOT_WANTED


def test_a_utf8_bom_stays_first() -> None:
    assert place(b"\xef\xbb\xbfhello").startswith(b"\xef\xbb\xbfhello")
    assert place(b"\xef\xbb\xbf<head>") == b"\xef\xbb\xbf<head>" + HEAD


@pytest.mark.parametrize(
    "hiding",
    [
        b"<script>document.write('</head><body>')</script>",
        b"<script type=text/template><head><body></script>",
        b"<!-- <head> </head> <body> -->",
        b"<!-- a -- b </head> -->",
        b"<!-- a --!> <p>x",
        b"<style>/* <head> </head> <body> */</style>",
        b"<textarea><head></head><body></textarea>",
        b"<title><head></head><body></title>",
        b'<meta content="<head></head><body>">',
        b"<meta content='</head>' name=x>",
        b"<div data-x=</head>>",
        b"<?php echo '<head>' ?>",
        b'<!DOCTYPE html SYSTEM "<head>">',
        b"<svg><![CDATA[ <head> </head> <body> ]]></svg>",
        b"<xmp><head></xmp>",
        b"<iframe><head></head><body></iframe>",
        b"<noscript><head></head><body></noscript>",
        b"<script><!--<script></script><head></head><body></script>-->",
    ],
)
def test_nothing_goes_inside_comments_scripts_raw_text_or_attributes(hiding: bytes) -> None:
    doc = b"<!doctype html>" + hiding + b"<p>end"
    assert place(doc) == doc + HEAD


def test_a_script_end_tag_inside_a_double_escaped_script_does_not_end_it() -> None:
    doc = b"<script><!--<script>x</script><head></script>--></script><head>"
    assert place(doc) == doc + HEAD


def test_the_script_escape_ends_with_its_comment() -> None:
    doc = b"<script><!-- x --></script><head>"
    assert place(doc) == doc + HEAD


def test_empty_comments_end_at_once() -> None:
    assert place(b"<!--><head>") == b"<!--><head>" + HEAD
    assert place(b"<!---><head>") == b"<!---><head>" + HEAD


def test_plaintext_never_ends() -> None:
    doc = b"<plaintext></plaintext><head><body>"
    out, rewriter = rewrite(doc)
    assert out == doc and rewriter.outcome == NO_PLACE  # even the end is plain text


def test_a_meta_charset_right_after_head_stays_first() -> None:
    doc = b"<html><head>\n  <meta charset=utf-8>\n<title>x</title>"
    assert place(doc) == b"<html><head>\n  <meta charset=utf-8>" + HEAD + b"\n<title>x</title>"


def test_a_meta_charset_after_other_metas_and_comments_stays_first() -> None:
    doc = b'<head><!-- c --><meta name=viewport content="x"><meta charset="utf-8"><title>'
    assert place(doc) == doc[: -len(b"<title>")] + HEAD + b"<title>"


def test_a_content_type_meta_counts_as_a_charset() -> None:
    doc = b'<head><meta http-equiv=content-type content="text/html; charset=utf-8"><link>'
    assert place(doc) == doc[: -len(b"<link>")] + HEAD + b"<link>"


def test_a_meta_charset_after_other_content_is_not_waited_for() -> None:
    doc = b"<head><title>x</title><meta charset=utf-8>"
    assert place(doc) == b"<head>" + HEAD + b"<title>x</title><meta charset=utf-8>"


def test_a_meta_charset_past_the_first_kilobyte_is_not_waited_for() -> None:
    doc = b"<head>" + b" " * 1100 + b"<meta charset=utf-8>"
    assert place(doc) == b"<head>" + HEAD + doc[len(b"<head>") :]


def test_past_the_lookahead_everything_passes_untouched() -> None:
    doc = b"<!--" + b"x" * LOOKAHEAD + b"--><head><body>"
    out, rewriter = rewrite(doc, split(doc, range(0, len(doc), 4096)))
    assert out == doc
    assert rewriter.outcome == GAVE_UP


def test_a_body_tag_past_the_lookahead_gets_no_body_part() -> None:
    doc = b"<head><style>" + b"p{}" * (LOOKAHEAD // 3) + b"</style><body>"
    out, rewriter = rewrite(doc)
    assert out == b"<head>" + HEAD + doc[len(b"<head>") :]
    assert rewriter.outcome == INSERTED


def test_chunks_flow_on_once_the_insertion_point_has_passed() -> None:
    rewriter = HtmlRewriter(HEAD)
    assert rewriter.feed(b"<html><he") == b"<html>"  # a tag cut in two is held
    assert not rewriter.settled
    assert rewriter.feed(b"ad><title>") == b"<head>" + HEAD + b"<title>"
    assert rewriter.settled and not rewriter.scanning
    assert rewriter.feed(b"anything</head>") == b"anything</head>"


def test_end_tags_of_raw_text_cut_by_chunk_boundaries() -> None:
    doc = b"<script>a</script \n ><style>b</style\t ><title>c</title  ><head>"
    one_byte_chunks = [doc[i : i + 1] for i in range(len(doc))]
    assert rewrite(doc, one_byte_chunks)[0] == doc + HEAD


def test_a_less_than_sign_at_the_end_of_a_chunk_waits_for_the_next() -> None:
    doc = b"<p>1 <<head data-x='<body>'>"
    assert rewrite(doc, split(doc, [6]))[0] == rewrite(doc)[0] == doc + HEAD


def test_a_head_start_tag_past_the_first_kilobyte_is_used_at_once() -> None:
    doc = b"<!--" + b"x" * 1100 + b"--><head><meta charset=utf-8>"
    assert place(doc) == doc[: -len(b"<meta charset=utf-8>")] + HEAD + b"<meta charset=utf-8>"


def test_a_tag_longer_than_the_lookahead_ends_the_search() -> None:
    doc = b'<div title="' + b"x" * LOOKAHEAD + b'"><head>'
    out, rewriter = rewrite(doc, split(doc, range(0, len(doc), 4096)))
    assert out == doc and rewriter.outcome == GAVE_UP


def test_the_head_part_is_inserted_exactly_once() -> None:
    doc = b"<head></head><head><body><body></head>"
    out = place(doc)
    assert out.count(HEAD) == 1 and out.count(BODY) == 1
    assert out == b"<head>" + HEAD + b"</head><head><body>" + BODY + b"<body></head>"


def test_a_head_inside_noscript_is_not_the_head() -> None:
    assert place(b"<noscript><head></noscript><head>") == (
        b"<noscript><head></noscript><head>" + HEAD
    )


@pytest.mark.parametrize("bom", [b"\xff\xfe", b"\xfe\xff"])
def test_a_utf16_document_is_left_alone(bom: bytes) -> None:
    doc = bom + "<html><head><body>".encode("utf-16-le" if bom == b"\xff\xfe" else "utf-16-be")
    out, rewriter = rewrite(doc, split(doc, [1, 2, 5]), trackers=HostRules(TRACKERS))
    assert out == doc and rewriter.outcome == NOT_ASCII


def test_nothing_to_insert_and_no_trackers_passes_through() -> None:
    rewriter = HtmlRewriter(b"")
    assert not rewriter.scanning and rewriter.settled
    assert rewriter.feed(b"<head>") == b"<head>"
    assert rewriter.finish() == b""


@pytest.mark.slow
@settings(max_examples=400)
@given(DOCUMENTS, CUTS)
def test_removing_the_inserted_parts_gives_back_the_document(doc: bytes, cuts: list[int]) -> None:
    out, rewriter = rewrite(doc, split(doc, cuts))
    assert out.count(HEAD) <= 1 and out.count(BODY) <= 1
    if doc and rewriter.outcome not in (GAVE_UP, NO_PLACE):
        assert out.count(HEAD) == 1
    assert out.replace(HEAD, b"").replace(BODY, b"") == doc


@pytest.mark.slow
@settings(max_examples=400)
@given(DOCUMENTS, CUTS)
def test_chunk_boundaries_do_not_change_the_output(doc: bytes, cuts: list[int]) -> None:
    assert rewrite(doc, split(doc, cuts))[0] == rewrite(doc)[0]


@settings(max_examples=200)
@given(DOCUMENTS, CUTS)
def test_chunk_boundaries_do_not_change_what_the_tracker_hook_sees(
    doc: bytes, cuts: list[int]
) -> None:
    whole, chunked = HostRules(TRACKERS), HostRules(TRACKERS)
    expected = rewrite(doc, trackers=whole)[0]
    assert rewrite(doc, split(doc, cuts), trackers=chunked)[0] == expected
    assert [tag.raw for tag in chunked.seen] == [tag.raw for tag in whole.seen]
    assert chunked.inline == whole.inline


@settings(max_examples=200)
@given(DOCUMENTS)
def test_a_hook_that_keeps_everything_changes_nothing_but_the_insertion(doc: bytes) -> None:
    assert rewrite(doc, trackers=HostRules({}))[0] == rewrite(doc)[0]


TAG_TEXT = st.text(alphabet="ab =\"'/>\t", max_size=30).map(str.encode)


@settings(max_examples=400)
@given(TAG_TEXT)
def test_a_streamed_tag_ends_where_a_held_tag_ends(rest: bytes) -> None:
    """Tags too long to hold are stepped through piece by piece; that must end each tag where
    the tag pattern does, which shows in what follows (the next inline script's text)."""
    doc = b"<x" + rest + b"<script>A</script>>" + b"<script>B</script>"
    held, streamed = HostRules({}), HostRules({})
    rewrite(doc, trackers=held)
    # Cut right after "<x": with no room to hold, that tag is stepped through.
    rewrite(doc, [doc[:2], doc[2:]], trackers=streamed, hold_limit=0)
    assert streamed.inline == held.inline


def test_tracker_start_tags_are_replaced_with_the_hooks_form() -> None:
    doc = (
        b'<head><script async src="https://www.googletagmanager.com/gtag/js?id=G-1"></script>'
        b'<script src="/app.js"></script></head><body>'
        b'<iframe src="https://www.youtube.com/embed/x"></iframe><img src="/logo.png">'
    )
    hook = HostRules(TRACKERS)
    out, rewriter = rewrite(doc, trackers=hook, body=b"")
    assert out == (
        b"<head>" + HEAD + b'<script data-consent="analytics" '
        b'data-src="https://www.googletagmanager.com/gtag/js?id=G-1" type="text/plain">'
        b'</script><script src="/app.js"></script></head><body>'
        b'<iframe data-consent="marketing" data-src="https://www.youtube.com/embed/x"></iframe>'
        b'<img src="/logo.png">'
    )
    assert rewriter.neutralised == 2
    assert [tag.name for tag in hook.seen] == ["script", "script", "iframe", "img"]


def test_each_replacement_is_reported_with_its_tag() -> None:
    reported: list[bytes] = []
    doc = b"<img src=//www.facebook.com/tr><img src=/a.png>"
    rewriter = HtmlRewriter(b"", trackers=HostRules(TRACKERS), on_neutralised=reported.append)
    rewriter.feed(doc)
    rewriter.finish()
    assert reported == [b'<img data-consent="marketing" data-src="//www.facebook.com/tr">']


def test_every_tag_that_fetches_is_handed_over_once_the_banner_is_in() -> None:
    """Past the banner's place the scan takes a fast path over tags that change nothing; a
    preload, an object or an embed fetches, so it must stop at them (a stylesheet does not
    fetch from a tracker's rules, and a link without "pre" or "&" cannot be a preload)."""
    doc = (
        b"<!doctype html><html><head><meta charset=utf-8><title>t</title>"
        b'<link rel=preload as=script href="https://connect.facebook.net/a.js">'
        b'<link rel=stylesheet href="/site.css"><LINK REL="&#112;refetch" href="/b.js">'
        b'<linkx href="x"></head><body>'
        b'<object data="https://www.youtube.com/embed/x"></object>'
        b'<embed src="https://www.youtube.com/embed/y"><img srcset="/a.png 1x"></body>'
    )
    for chunks in ([doc], split(doc, range(5, len(doc), 9))):
        hook = HostRules(TRACKERS)
        out, rewriter = rewrite(doc, chunks, trackers=hook)
        assert rewriter.outcome == INSERTED and out.index(HEAD) < out.index(b"<link")
        assert [tag.name for tag in hook.seen] == ["link", "link", "object", "embed", "img"]
        assert dict(hook.seen[1].attrs)["rel"] == "prefetch"


def test_tags_carry_the_first_base_href_of_the_document() -> None:
    doc = (
        b"<head><meta charset=utf-8><script src=before.js></script>"
        b'<noscript><base href="https://noscript.example/"></noscript><base target=_top></head>'
        b'<body><svg><base href="https://svg.example/"/></svg>'
        b'<base href="https://www.facebook.com/"><base href="https://second.example/">'
        b"<img src=tr><script src=after.js></script>"
    )
    hook = HostRules(TRACKERS)
    rewrite(doc, split(doc, range(3, len(doc), 11)), trackers=hook)
    assert [(tag.name, tag.base) for tag in hook.seen] == [
        ("script", None),
        ("img", "https://www.facebook.com/"),
        ("script", "https://www.facebook.com/"),
    ]


def test_trackers_the_fast_path_used_to_pass_are_neutralised() -> None:
    doc = (
        b"<!doctype html><html><head><meta charset=utf-8><title>t</title>"
        b'<link rel=preload as=script href="https://connect.facebook.net/en_US/fbevents.js">'
        b"</head><body>"
        b'<img srcset="https://www.facebook.com/tr?id=1&amp;ev=PageView 1x" alt="">'
        b'<object data="https://www.youtube.com/embed/x" type="text/html"></object>'
        b'<embed src="https://www.youtube.com/embed/y" type="text/html">'
        b'<base href="https://www.facebook.com/"><img src="tr?id=2" alt="">'
        b"</body></html>"
    )
    out, rewriter = rewrite(doc, trackers=TrackerRules.load())
    assert rewriter.neutralised == 5
    for fetched in (b' href="https://c', b" srcset=", b" data=", b' src="https:', b' src="tr'):
        assert fetched not in out, fetched


def test_granted_categories_keep_their_trackers() -> None:
    doc = b'<head><script src="https://www.googletagmanager.com/gtag/js"></script>'
    out, _ = rewrite(doc, trackers=HostRules(TRACKERS), granted=ALL_GRANTED)
    assert out == b"<head>" + HEAD + doc[len(b"<head>") :]


def test_inline_tracker_snippets_get_an_inert_start_tag() -> None:
    snippet = b"!function(f,b,e){s=b.createElement(e);s.src='https://connect.facebook.net/en_US/fbevents.js'}"
    doc = b"<head><title>x</title><script>" + snippet + b"</script><script>var a=1</script>"
    hook = HostRules(TRACKERS)
    out, rewriter = rewrite(doc, split(doc, range(3, len(doc), 7)), trackers=hook)
    assert out == (
        b"<head>"
        + HEAD
        + b'<title>x</title><script type="text/plain" data-consent="marketing">'
        + snippet
        + b"</script><script>var a=1</script>"
    )
    assert hook.inline == [snippet, b"var a=1"]
    assert rewriter.neutralised == 1


def test_tags_are_handed_over_with_lower_case_names_and_decoded_values() -> None:
    hook = HostRules(TRACKERS)
    doc = (
        b"<IMG SRC='https://www.facebook.com/tr?id=1&amp;ev=PageView&region=eu' Alt>"
        b"<img src=a src=b>"
    )
    rewrite(doc, trackers=hook)
    assert hook.seen[0].name == "img"
    assert hook.seen[0].attrs == [
        ("src", "https://www.facebook.com/tr?id=1&ev=PageView&region=eu"),
        ("alt", None),
    ]
    assert hook.seen[0].raw == doc[: doc.index(b">") + 1]
    assert hook.seen[1].attrs == [("src", "a")]  # the first of a repeated name wins


def test_tags_in_comments_scripts_and_attributes_are_not_handed_over() -> None:
    hook = HostRules(TRACKERS)
    doc = (
        b"<!-- <img src=//www.facebook.com/tr> --><script>x='<img src=/a.png>'"
        b"</script><div title='<img src=//www.facebook.com/tr>'></div><textarea><img></textarea>"
    )
    out, _ = rewrite(doc, trackers=hook, head=b"")
    assert out == doc
    assert [tag.name for tag in hook.seen] == ["script"]


def test_pixels_inside_noscript_are_handed_over() -> None:
    hook = HostRules(TRACKERS)
    doc = b'<noscript><img height="1" src="https://www.facebook.com/tr?id=1"></noscript>'
    out, _ = rewrite(doc, trackers=hook, head=b"")
    assert (
        out
        == b'<noscript><img data-consent="marketing" data-src="https://www.facebook.com/tr?id=1"></noscript>'
    )


def test_an_inline_script_over_the_limit_flows_on_unjudged() -> None:
    hook = HostRules(TRACKERS)
    text = b"connect.facebook.net;" + b"x" * INLINE_SCRIPT_LIMIT
    pixel = b"<img src=//www.facebook.com/tr>"
    doc = b"<script>" + text + b"</script>" + pixel
    rewriter = HtmlRewriter(b"", trackers=hook, granted=frozenset())
    fed = 0
    sent = b""
    for chunk in split(doc, range(0, len(doc), 8192)):
        fed += len(chunk)
        sent += rewriter.feed(chunk)
        assert fed - len(sent) <= INLINE_SCRIPT_LIMIT + 8192
    sent += rewriter.finish()
    assert hook.inline == []
    gated = b'<img data-consent="marketing" data-src="//www.facebook.com/tr">'
    assert sent == doc.replace(pixel, gated)


def test_a_tracker_scan_of_a_long_document_holds_back_little() -> None:
    hook = HostRules(TRACKERS)
    row = b'<tr><td class="n">1</td><td><a href="/item?id=1&amp;x=2">item</a></td></tr>\n'
    rewriter = HtmlRewriter(HEAD, trackers=hook, granted=frozenset())
    fed = sent = 0
    sent += len(rewriter.feed(b"<!doctype html><head><title>t</title></head><body><table>"))
    chunk = row * 800  # about 60 KB
    for _ in range(200):  # 12 MB
        fed += len(chunk)
        sent += len(rewriter.feed(chunk))
        assert fed - sent < 4096
    assert rewriter.outcome == INSERTED


def test_a_tag_longer_than_the_hold_limit_is_streamed_and_scanning_goes_on() -> None:
    hook = HostRules(TRACKERS)
    huge = b'<div data-page="' + b"{&quot;x&quot;:1}" * 20_000 + b'">'
    doc = b"<head><title>t</title>" + huge + b"<script>connect.facebook.net</script>"
    out, _ = rewrite(doc, split(doc, range(0, len(doc), 1000)), trackers=hook)
    assert out == (
        b"<head>"
        + HEAD
        + b"<title>t</title>"
        + huge
        + b'<script type="text/plain" data-consent="marketing">connect.facebook.net</script>'
    )


def test_tag_of_reads_one_start_tag() -> None:
    tag = tag_of(b'<script type="text/plain" data-consent="analytics" defer>')
    assert tag is not None and tag.name == "script"
    assert dict(tag.attrs) == {"type": "text/plain", "data-consent": "analytics", "defer": None}
    assert tag_of(b"</script>") is None and tag_of(b"<script") is None


@pytest.mark.parametrize(
    ("raw", "decoded"),
    [
        ("?a=1&region=eu", "?a=1&region=eu"),
        ("a&amp;b", "a&b"),
        ("&copy;2024", "©2024"),
        ("&copy 2024", "© 2024"),
        ("&copy=1", "&copy=1"),
        ("&notit;", "&notit;"),
        ("&#x41;&#66;", "AB"),
        ("&unknown;", "&unknown;"),
    ],
)
def test_attribute_values_decode_like_the_tokenizer(raw: str, decoded: str) -> None:
    assert unescape_attribute(raw) == decoded


def test_xml_syntax_makes_the_snippet_well_formed() -> None:
    snippet = (
        b'<link rel="stylesheet" href="/_consent/banner.1.css">'
        b'<script src="/_consent/banner.1.js" defer nonce=abc data-state="{&quot;a&quot;:1}">'
        b"</script><meta name=x content=y/>"
    )
    converted = xml_syntax(snippet)
    root = ET.fromstring(b"<r>" + converted + b"</r>")
    assert [child.tag for child in root] == ["link", "script", "meta"]
    assert root[1].attrib == {
        "src": "/_consent/banner.1.js",
        "defer": "defer",
        "nonce": "abc",
        "data-state": '{"a":1}',
    }


def test_categories_are_unknown_to_the_rewriter() -> None:
    # The rewriter hands ``granted`` through without reading it: the hook decides.
    hook = HostRules({"t.example": Category.PREFERENCES})
    doc = b"<img src=//t.example/p.gif>"
    assert rewrite(doc, trackers=hook, granted=frozenset({Category.PREFERENCES}))[0] == doc + HEAD
