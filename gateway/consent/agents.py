"""Bot detection and user-agent summaries.

``bot_kind`` runs on every request. It reduces the User-Agent to its *shape* (lower case,
every digit a "0") and remembers the answer per shape: browsers differ mostly by version
numbers, so ten thousand versions of Chrome share one entry. A new shape runs one
precompiled regex, the tokens of ``rules/bots.toml`` folded into a trie, which follows one
branch per character instead of trying every token at every position.
``describe`` does the full ``user_agents`` parse, which tries hundreds of regexes in turn
(about a millisecond), so it is cached and meant for analytics, off the request path.
"""

from __future__ import annotations

import re
import string
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import user_agents

from gateway.memo import Memo
from gateway.resources import rules_dir

MAX_AGENT_LENGTH = 512
MEMO_BYTES = 4 * 1024 * 1024  # of User-Agent strings (or shapes) remembered, each memo
UNKNOWN_CLIENT = "unknown-client"
# The kind of a bot that ua-parser recognises but no token in bots.toml does.
OTHER_BOT = "other"

_SHAPE = bytes.maketrans(
    (string.ascii_uppercase + string.digits).encode(),
    (string.ascii_lowercase + "0" * len(string.digits)).encode(),
)


def _shape(agent: str | bytes) -> bytes:
    """What the token check sees: the first 512 characters, lower case, digits as "0".

    The raw header bytes are taken as they are, which spares the request path a decode.
    """
    if isinstance(agent, str):
        agent = agent[:MAX_AGENT_LENGTH].encode("utf-8", "replace")
    return agent[:MAX_AGENT_LENGTH].translate(_SHAPE)


UNSEEN = "<unseen>"  # not a kind: bots.toml kinds are TOML keys, never compared by identity


@dataclass(frozen=True, slots=True)
class AgentInfo:
    """A user agent in the coarse terms analytics need, nothing that singles a visitor out."""

    browser_family: str
    browser_major: str | None
    os_family: str
    device_class: str  # "desktop" | "mobile" | "tablet" | "bot" | "other"
    is_bot: bool
    bot_kind: str | None


class AgentClassifier:
    """Bot kinds from user-agent tokens, and full descriptions from ua-parser."""

    def __init__(
        self,
        tokens: Mapping[str, Sequence[str]],
        cache_size: int = 10_000,
        *,
        crawlers: Iterable[str] = (),
    ) -> None:
        """``tokens`` maps each kind to its tokens; when several match, the first kind wins.
        ``crawlers`` are the kinds that read pages for an index or a preview: nobody there
        could answer a banner."""
        self.crawlers = frozenset(crawlers)
        self._kind_of = {_shape(token): kind for kind, words in tokens.items() for token in words}
        self._rank = {kind: rank for rank, kind in enumerate(tokens)}
        self._pattern = re.compile(_trie_pattern(self._kind_of) or b"(?!)")
        self._memo: Memo[bytes, str | None] = Memo(
            "agent_shapes", cache_size, MEMO_BYTES, MAX_AGENT_LENGTH
        )
        # Per exact string, up to the length checked; callers on a hot path may look here
        # first (``UNSEEN`` if absent; they count the hit).
        self.seen: Memo[str | bytes, str | None] = Memo(
            "user_agents", cache_size, MEMO_BYTES, MAX_AGENT_LENGTH
        )
        # ua-parser takes about a millisecond a string (benchmarks/bench_agents.py): kept for
        # the consent decisions' proof, one a visitor, where popular User-Agents repeat
        # (analytics asks through its own memo of reduced User-Agents first).
        self._descriptions: Memo[str, AgentInfo] = Memo(
            "agent_descriptions", cache_size, MEMO_BYTES, MAX_AGENT_LENGTH
        )
        self.memos = (self.seen, self._memo, self._descriptions)

    @property
    def token_count(self) -> int:
        """How many tokens tell bots apart."""
        return len(self._kind_of)

    def adopt(self, other: AgentClassifier) -> None:
        """Tell bots apart by ``other``'s tokens from now on (rules read again); the memos,
        cleared, stay the ones the metrics count and the enforcer holds."""
        self.crawlers = other.crawlers
        self._kind_of, self._rank, self._pattern = other._kind_of, other._rank, other._pattern
        for memo in self.memos:
            memo.clear()

    @classmethod
    def load(cls, path: Path | None = None, cache_size: int = 10_000) -> AgentClassifier:
        """The tokens in ``path`` (default: the built-in ones); ``ValueError`` names the problem."""
        path = path or rules_dir() / "bots.toml"
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
            raise ValueError(f"{path}: cannot read the bot tokens ({error})") from None
        tokens: dict[str, list[str]] = {}
        crawlers: list[str] = []
        seen: dict[bytes, str] = {}
        for kind, table in data.items():
            words = table.get("tokens") if isinstance(table, dict) else None
            crawler = table.get("crawler", False) if isinstance(table, dict) else None
            if (
                not isinstance(words, list)
                or not isinstance(crawler, bool)
                or set(table) - {"crawler"} != {"tokens"}
            ):
                raise ValueError(
                    f"{path}: [{kind}] must hold only `tokens`, a list of strings, "
                    "and optionally `crawler`, true or false"
                )
            if kind in (UNKNOWN_CLIENT, OTHER_BOT):
                raise ValueError(f"{path}: [{kind}] is a kind the gateway reports by itself")
            for word in words:
                if not isinstance(word, str) or not word.strip() or not word.isascii():
                    raise ValueError(f"{path}: [{kind}] {word!r} is not an ASCII token")
                key = _shape(word)
                if key in seen:
                    raise ValueError(f"{path}: {word!r} is listed twice ([{seen[key]}], [{kind}])")
                seen[key] = kind
            tokens[kind] = words
            if crawler:
                crawlers.append(kind)
        return cls(tokens, cache_size, crawlers=crawlers)

    def bot_kind(self, user_agent: str | bytes) -> str | None:
        """The bots.toml kind of this client, ``unknown-client`` without a User-Agent, or None."""
        seen = self.seen
        kind = seen.table.get(user_agent, UNSEEN)  # the very string: no shape to compute
        if kind is not UNSEEN:
            seen.hits += 1
            return kind
        shape = _shape(user_agent)
        memo = self._memo
        kind = memo.table.get(shape, UNSEEN)
        if kind is UNSEEN:
            kind = memo.put(shape, self._classify(shape), len(shape))
        else:
            memo.hits += 1
        return seen.put(user_agent, kind, len(user_agent))

    def describe(self, user_agent: str) -> AgentInfo:
        """Browser, OS and device class; never raises, whatever the string."""
        agent = user_agent[:MAX_AGENT_LENGTH]
        memo = self._descriptions
        info = memo.table.get(agent)
        if info is None:
            return memo.put(agent, self._parse(agent), len(agent))
        memo.hits += 1
        return info

    def _classify(self, shape: bytes) -> str | None:
        if not shape.strip():
            return UNKNOWN_CLIENT
        first = self._pattern.search(shape)
        if first is None:
            return None
        kinds = {self._kind_of[m.group()] for m in self._pattern.finditer(shape, first.start())}
        return min(kinds, key=self._rank.__getitem__)

    def _parse(self, agent: str) -> AgentInfo:
        kind = self.bot_kind(agent)
        try:
            parsed = user_agents.parse(agent)
            is_bot = kind is not None or bool(parsed.is_bot)
            version = parsed.browser.version
            return AgentInfo(
                browser_family=str(parsed.browser.family),
                browser_major=str(version[0]) if version else None,
                os_family=str(parsed.os.family),
                device_class=_device_class(parsed, is_bot),
                is_bot=is_bot,
                bot_kind=kind if kind is not None else (OTHER_BOT if is_bot else None),
            )
        except Exception:  # a parser bug must not reach the caller
            device = "bot" if kind is not None else "other"
            return AgentInfo("Other", None, "Other", device, kind is not None, kind)


def _device_class(parsed: user_agents.parsers.UserAgent, is_bot: bool) -> str:
    if is_bot:
        return "bot"
    if parsed.is_tablet:
        return "tablet"
    if parsed.is_mobile:
        return "mobile"
    return "desktop" if parsed.is_pc else "other"


_Trie = dict[bytes, "_Trie"]


def _trie_pattern(words: Iterable[bytes]) -> bytes:
    """A regex that matches any of ``words``, factored by their common prefixes.

    ``(b"bingbot", b"bingpreview")`` becomes ``bing(?:bot|preview)``: at each position the
    engine follows one branch per character instead of trying every word. A match is always
    one whole word, the longest that fits.
    """
    root: _Trie = {}
    for word in words:
        node = root
        for index in range(len(word)):
            node = node.setdefault(word[index : index + 1], {})
        node[b""] = {}  # a word ends here
    return _node_pattern(root)


def _node_pattern(node: _Trie) -> bytes:
    branches = [re.escape(char) + _node_pattern(child) for char, child in node.items() if char]
    if not branches:
        return b""
    body = branches[0] if len(branches) == 1 else b"(?:" + b"|".join(branches) + b")"
    return b"(?:" + body + b")?" if b"" in node else body
