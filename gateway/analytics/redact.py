"""What leaves the gateway about a visitor: truncated IPs, scrubbed URLs, no click ids.

Pure functions and one ``Redactor`` built at start-up from the settings and
``rules/analytics.toml``. Every provider module uses the same pieces, so "no full IP, no
e-mail address in a URL, no click id without marketing consent" holds for all of them.

- The client address (``gateway.proxies``: the first untrusted forwarded hop read from the
  right, and only when the direct peer is a trusted proxy) is truncated to its network
  (IPv4 /24, IPv6 /48 by default).
- URL query parameters that carry personal data, and values that look like an e-mail
  address, are removed; the rest of the URL keeps its exact encoding. A URL that does not
  parse is dropped rather than forwarded as it is.
- An external referrer is reduced to its origin, as ``Referrer-Policy: strict-origin`` would.
- Free text (titles, event labels, search terms, messages, custom properties: the places
  ``[free_text]`` of the rules names per provider) follows one rule, ``Redactor.text``: a
  text that holds an e-mail address is not forwarded (the field goes, as a URL parameter
  with one does), a URL is scrubbed as above, and a property whose name the site chose goes
  when the name carries personal data or, without marketing consent, is a click id.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus, urlsplit, urlunsplit

from gateway.consent.agents import MAX_AGENT_LENGTH, AgentClassifier
from gateway.memo import Memo
from gateway.proxies import truncate_ip
from gateway.resources import rules_dir

_WORD_SPLIT = re.compile(r"[_\-.\[\]\s]+|(?<=[a-z0-9])(?=[A-Z])")
# Linear in the length of the text (free text may be a megabyte): the local part starts only
# where a run of its characters starts and never gives characters back, and the domain is
# labels that end at a dot, each tried once. A plain ``[^@...]+@`` is quadratic (a second
# for 20,000 characters without an "@").
_EMAIL = re.compile(r"(?<![^@\s/?#&=])[^@\s/?#&=]++@(?:[^@\s/?#&=.]++\.)+[A-Za-z]{2,}")
MAX_URL_LENGTH = 8192
MEMO_SIZE = 8192
MEMO_BYTES = 4 * 1024 * 1024  # of URLs (or User-Agents) remembered, each memo
MAX_MEMO_NAME = 64


@dataclass(frozen=True, slots=True)
class RedactionRules:
    """The data of ``rules/analytics.toml``."""

    personal_words: frozenset[str]
    personal_names: frozenset[str]
    click_ids: frozenset[str]
    browser_agents: dict[str, str]
    system_agents: dict[str, str]
    free_text: dict[str, TextFields]

    @classmethod
    def load(cls, path: Path | None = None) -> RedactionRules:
        path = path or rules_dir() / "analytics.toml"
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
            personal = data["personal_parameters"]
            agents = data["reduced_agents"]
            return cls(
                personal_words=frozenset(w.lower() for w in personal["words"]),
                personal_names=frozenset(n.lower() for n in personal["names"]),
                click_ids=frozenset(n.lower() for n in data["click_ids"]["names"]),
                browser_agents=dict(agents["browsers"]),
                system_agents=dict(agents["systems"]),
                free_text={
                    provider: TextFields.parse(names)
                    for provider, names in data["free_text"].items()
                },
            )
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, KeyError, TypeError) as e:
            raise ValueError(f"{path}: cannot read the redaction rules ({e!r})") from None

    def is_personal(self, name: str) -> bool:
        """Whether a parameter of this name carries personal data."""
        lowered = name.lower()
        if lowered in self.personal_names or lowered in self.personal_words:
            return True
        return any(word.lower() in self.personal_words for word in _WORD_SPLIT.split(name))

    def is_click_id(self, name: str) -> bool:
        return name.lower() in self.click_ids


def looks_like_email(value: str) -> bool:
    return _EMAIL.search(value) is not None


class TextFields:
    """Where one provider's hits hold free text: a node of the ``[free_text]`` names of
    rules/analytics.toml, by key (exact names first, then ``name*`` prefixes, then ``*``)."""

    __slots__ = ("any", "children", "named", "own", "prefixes", "text")

    def __init__(self, named: bool = False) -> None:
        self.text = False  # free text here
        self.own = False  # a "!" name: the provider's own field, no free text
        self.named = named  # reached by a wildcard: the key is a name the site chose
        self.children: dict[str, TextFields] = {}
        self.prefixes: list[tuple[str, TextFields]] = []
        self.any: TextFields | None = None

    @classmethod
    def parse(cls, names: Iterable[str]) -> TextFields:
        """The fields of dotted ``names`` (``payload.data.*``, ``dimension*``, ``!token``)."""
        root = cls()
        for name in names:
            node = root
            for segment in name.removeprefix("!").split("."):
                node = node._child(segment)
            node.own, node.text = name.startswith("!"), not name.startswith("!")
        return root

    def _child(self, segment: str) -> TextFields:
        if segment == "*":
            self.any = self.any or TextFields(named=True)
            return self.any
        if segment.endswith("*"):
            prefix = segment[:-1]
            found = next((node for p, node in self.prefixes if p == prefix), None)
            if found is None:
                found = TextFields(named=True)
                self.prefixes.append((prefix, found))
            return found
        return self.children.setdefault(segment, TextFields())

    def get(self, key: str) -> TextFields | None:
        """The node of ``key`` below this one, or None."""
        found = self.children.get(key)
        if found is not None:
            return found
        for prefix, node in self.prefixes:
            if key.startswith(prefix):
                return node
        return self.any

    def field(self, name: str) -> TextFields | None:
        """The node of a flat, dotted parameter name (``ep.coupon``) when it is free text."""
        node: TextFields | None = self
        for segment in name.split("."):
            node = node.get(segment) if node is not None else None
        return node if node is not None and node.text else None


def _same_site(host: str | None, other: str | None) -> bool:
    if not host or not other:
        return False
    return host.lower().removeprefix("www.") == other.lower().removeprefix("www.")


class Redactor:
    """URL, referrer, IP and User-Agent redaction for one gateway."""

    def __init__(
        self,
        rules: RedactionRules,
        *,
        ipv4_prefix: int = 24,
        ipv6_prefix: int = 48,
        agents: AgentClassifier | None = None,
        reduce_user_agent: bool = False,
    ) -> None:
        self.rules = rules
        self.ipv4_prefix = ipv4_prefix
        self.ipv6_prefix = ipv6_prefix
        self._agents = agents
        self.reduces_user_agent = reduce_user_agent and agents is not None
        self._reduced: Memo[str, str] = Memo("reduced_agents", 4096, MEMO_BYTES, MAX_AGENT_LENGTH)
        # Many visitors load the same pages: a scrubbed URL is remembered (bounded).
        self._urls: Memo[tuple[str, bool], str] = Memo(
            "scrubbed_urls", MEMO_SIZE, MEMO_BYTES, MAX_URL_LENGTH
        )
        # By parameter or property name; names come from clients: longer ones are not kept.
        self._personal: Memo[str, bool] = Memo(
            "personal_names", MEMO_SIZE, MEMO_BYTES, MAX_MEMO_NAME
        )
        self.memos = (self._reduced, self._urls, self._personal)

    def ip(self, address: str | None) -> str | None:
        return truncate_ip(address, self.ipv4_prefix, self.ipv6_prefix) if address else None

    def keep_name(self, name: str, marketing: bool) -> bool:
        """Whether a parameter or property of this name may be forwarded at all."""
        personal = self._personal.table.get(name)
        if personal is None:
            personal = self._personal.put(name, self.rules.is_personal(name), len(name))
        else:
            self._personal.hits += 1
        return not personal and (marketing or not self.rules.is_click_id(name))

    def keep_parameter(self, name: str, value: str, marketing: bool) -> bool:
        """Whether a URL or hit parameter may be forwarded."""
        return self.keep_name(name, marketing) and not looks_like_email(value)

    def text(self, name: str | None, value: object, marketing: bool) -> object | None:
        """The one rule for free text: ``value`` fit to forward, or None when it may not be.

        ``name`` is the name the site chose for a custom property (None for a provider's own
        field, such as a page title): it goes when ``keep_name`` says so. A string that holds
        an e-mail address goes; a URL is scrubbed like a page URL. Other values pass."""
        if name is not None and not self.keep_name(name, marketing):
            return None
        if not isinstance(value, str):
            return value
        if value.startswith(("http://", "https://")):
            return self.url(value, marketing)
        return None if looks_like_email(value) else value

    def scrub_text(
        self, fields: TextFields, document: Any, marketing: bool, redactions: dict[str, int]
    ) -> None:
        """``text`` applied, in place, wherever ``fields`` names free text in ``document``
        (parsed JSON); ``redactions`` counts what was removed or changed (``text``, or
        ``props`` for properties the site named)."""
        if isinstance(document, dict):
            for key in list(document):
                node = fields.get(key)  # JSON keys are strings
                if node is not None and not node.own:
                    value = self._scrub_at(node, key, document[key], marketing, redactions)
                    if value is None:
                        del document[key]
                    else:
                        document[key] = value
        elif isinstance(document, list) and fields.any is not None:
            node = fields.any
            scrubbed = [
                self._scrub_at(node, None, item, marketing, redactions) for item in document
            ]
            document[:] = [item for item in scrubbed if item is not None]

    def scrub_text_pairs(
        self,
        fields: TextFields,
        pairs: list[tuple[str, str]],
        marketing: bool,
        redactions: dict[str, int],
    ) -> list[tuple[str, str]]:
        """``scrub_text`` for the parameters of a query string (``ep.coupon``: key ``coupon``
        of ``ep``)."""
        kept = []
        for key, value in pairs:
            node = fields.field(key)
            if node is not None:
                name = key.rpartition(".")[2]
                value = self._scrub_at(node, name, value, marketing, redactions)
                if value is None:
                    continue
            kept.append((key, value))
        return kept

    def _scrub_at(
        self,
        node: TextFields,
        key: str | None,
        value: Any,
        marketing: bool,
        redactions: dict[str, int],
    ) -> Any:
        if node.own:
            return value  # a list element or query parameter; dict keys are skipped earlier
        if node.text:
            name = key if node.named else None
            scrubbed = self.text(name, value, marketing)
            if scrubbed is not value and scrubbed != value:
                kind = "text" if name is None else "props"
                redactions[kind] = redactions.get(kind, 0) + 1
            value = scrubbed
        if isinstance(value, (dict, list)) and (node.children or node.prefixes or node.any):
            self.scrub_text(node, value, marketing, redactions)
        return value

    def scrub_query(self, query: str, marketing: bool) -> str:
        """``query`` without personal and (without marketing consent) click-id parameters;
        kept parameters keep their exact encoding."""
        if not query:
            return query
        kept = []
        for part in query.split("&"):
            name = unquote_plus(part.partition("=")[0])
            # An address in the name counts too: "?ann@mail.example" is a parameter.
            if (
                part
                and self.keep_name(name, marketing)
                and not looks_like_email(unquote_plus(part))
            ):
                kept.append(part)
        return "&".join(kept)

    def url(self, url: str, marketing: bool) -> str:
        """A page URL (absolute or a path) fit to forward; "" when it does not parse."""
        if not url:
            return url
        key = (url, marketing)
        found = self._urls.table.get(key)
        if found is None:
            return self._urls.put(key, self._scrub_url(url, marketing), len(url))
        self._urls.hits += 1
        return found

    def _scrub_url(self, url: str, marketing: bool) -> str:
        if len(url) > MAX_URL_LENGTH:
            url = url[:MAX_URL_LENGTH]
        try:
            parts = urlsplit(url)
            netloc = parts.netloc.rpartition("@")[2]  # never user:password@
            if parts.port is not None and not 0 < parts.port < 65536:
                return ""
        except ValueError:
            return ""
        fragment = parts.fragment
        if "=" in fragment:
            fragment = self.scrub_query(fragment, marketing)
        if looks_like_email(unquote_plus(fragment)):  # a route: "#/users/ann@mail.example"
            fragment = ""
        if looks_like_email(unquote_plus(parts.path)):
            return urlunsplit((parts.scheme, netloc, "", "", ""))
        return urlunsplit(
            (parts.scheme, netloc, parts.path, self.scrub_query(parts.query, marketing), fragment)
        )

    def referrer(self, referrer: str | None, page: str | None, marketing: bool) -> str | None:
        """Same-site referrers scrubbed like page URLs; others reduced to their origin."""
        if not referrer:
            return referrer
        try:
            parts = urlsplit(referrer)
            host = parts.hostname
            page_host = urlsplit(page).hostname if page else None
        except ValueError:
            return ""
        if not parts.scheme or not host:
            return self.url(referrer, marketing)  # a path: the same site
        if page_host is not None and _same_site(host, page_host):
            return self.url(referrer, marketing)
        try:
            port = f":{parts.port}" if parts.port else ""
        except ValueError:
            return ""
        return f"{parts.scheme}://{host}{port}/"

    def host_of(self, url: str | None) -> str | None:
        try:
            return urlsplit(url).hostname if url else None
        except ValueError:
            return None

    def user_agent(self, user_agent: str) -> str:
        """The User-Agent to forward: as sent, or reduced to family, major, OS and device."""
        if not self.reduces_user_agent or not user_agent or self._agents is None:
            return user_agent
        reduced = self._reduced.table.get(user_agent)
        if reduced is None:
            info = self._agents.describe(user_agent)
            systems, browsers = self.rules.system_agents, self.rules.browser_agents
            system = systems.get(info.os_family, systems["other"]).format(os_family=info.os_family)
            template = browsers.get(info.browser_family, browsers["other"])
            reduced = template.format(
                os=system,
                major=info.browser_major or "0",
                family=info.browser_family.replace(" ", ""),
            )
            self._reduced.put(user_agent, reduced, len(user_agent))
        else:
            self._reduced.hits += 1
        return reduced
