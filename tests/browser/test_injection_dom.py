"""Chromium's own HTML parser judges the rewriter: where the banner went, which tags it saw.

For generated documents, the rewritten page parsed by Chromium, minus the inserted elements,
must be the original page's DOM exactly: so nothing went inside a comment, a script, raw
text or an attribute, and nothing around the insertion parsed differently. And the tags the
tracker hook was handed must be exactly the <script src>, <img>, <iframe>, <object>,
<embed> and <link> elements Chromium builds, with the same decoded URL values.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from playwright.sync_api import Page

from gateway.consent.state import Category
from gateway.html.rewriter import HtmlRewriter, Tag
from tests.support.html_docs import DOCUMENTS

HEAD = b'<link data-cg rel="stylesheet" href="/cg.css"><script data-cg src="/cg.js"></script>'
BODY = b"<div data-cg hidden>form</div>"

# A structural dump of a parsed document: adjacent text merged, template contents included.
DUMP = """
(pairs) => {
  const dump = (doc) => {
    const out = [];
    const walk = (node) => {
      if (node.nodeType === 1) {
        const attrs = [...node.attributes].map((a) => a.name + "=" + JSON.stringify(a.value));
        out.push("<" + node.namespaceURI + ":" + node.localName + " " + attrs.join(" "));
        const children = node.localName === "template" ? node.content.childNodes : node.childNodes;
        children.forEach(walk);
        out.push(">");
      } else if (node.nodeType === 3) {
        const last = out.length - 1;
        if (last >= 0 && out[last].startsWith("#text ")) out[last] += node.data;
        else out.push("#text " + node.data);
      } else if (node.nodeType === 8) out.push("#comment " + node.data);
      else if (node.nodeType === 10) out.push("#doctype " + node.name);
      else out.push("#node " + node.nodeType);
    };
    walk(doc);
    return out;
  };
  const parse = (html) => new DOMParser().parseFromString(html, "text/html");
  return pairs.map(([original, rewritten]) => {
    const before = parse(original);
    const after = parse(rewritten);
    const inserted = [...after.querySelectorAll("[data-cg]")].map((e) => e.localName);
    after.querySelectorAll("[data-cg]").forEach((e) => e.remove());
    const fetched = { object: "data", link: "href" };
    const tags = [...before.querySelectorAll("script[src], img, iframe, object, embed, link")]
      .map((e) => e.localName + " " + e.getAttribute(fetched[e.localName] || "src"));
    const inline = [...before.querySelectorAll("script:not([src])")].map((e) => e.text);
    return {
      same: JSON.stringify(dump(before)) === JSON.stringify(dump(after)),
      inserted, tags: tags.sort(), inline,
    };
  });
}
"""


class Recorder:
    """A tracker hook that keeps everything and notes what it was handed."""

    def __init__(self) -> None:
        self.tags: list[str] = []
        self.inline: list[str] = []

    def start_tag(self, tag: Tag, granted: frozenset[Category]) -> bytes | None:
        fetched = {"object": "data", "link": "href"}.get(tag.name, "src")
        attrs = dict(tag.attrs)
        value = (attrs[fetched] or "") if fetched in attrs else "null"  # as getAttribute has it
        self.tags.append(f"{tag.name} {value}")
        return None

    def inline_script(self, tag: Tag, text: bytes, granted: frozenset[Category]) -> bytes | None:
        self.inline.append(text.decode())
        return None


def rewritten(doc: bytes) -> tuple[bytes, Recorder, str]:
    recorder = Recorder()
    rewriter = HtmlRewriter(HEAD, BODY, trackers=recorder, granted=frozenset())
    out = rewriter.feed(doc) + rewriter.finish()
    return out, recorder, rewriter.outcome


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(st.lists(DOCUMENTS, min_size=40, max_size=40))
def test_chromium_parses_the_rewritten_page_as_the_original_plus_the_banner(
    page: Page, docs: list[bytes]
) -> None:
    results = [rewritten(doc) for doc in docs]
    pairs = [[doc.decode(), out.decode()] for doc, (out, _, _) in zip(docs, results, strict=True)]
    judged: list[dict[str, Any]] = page.evaluate(DUMP, pairs)
    for doc, (out, recorder, _), verdict in zip(docs, results, judged, strict=True):
        context = (doc, out)
        assert verdict["same"], context
        if out != doc:
            # Both banner elements are real elements (not text in a comment or raw text).
            assert verdict["inserted"][:2] == ["link", "script"], context
        assert sorted(recorder.tags) == verdict["tags"], context
        # A script still open at the end of the document never runs, so is not handed over.
        dom_inline = verdict["inline"]
        assert recorder.inline == dom_inline[: len(recorder.inline)], context
        assert len(dom_inline) - len(recorder.inline) <= 1, context
