"""Bot detection and user-agent summaries.

``bot_kind`` runs on every request, so it is one precompiled regex over the tokens in
``rules/bots.toml``, memoised; the full ``user_agents`` parse is slow (hundreds of regexes)
and only ``describe`` does it, cached, off the request path.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import user_agents

from gateway.resources import rules_dir

MAX_AGENT_LENGTH = 512
UNKNOWN_CLIENT = "unknown-client"


@dataclass(frozen=True, slots=True)
class AgentInfo:
    browser_family: str
    browser_major: str | None
    os_family: str
    device_class: str
    is_bot: bool
    bot_kind: str | None


class AgentClassifier:
    """Bot kinds from tokens, and full descriptions from ua-parser."""

    def __init__(self, tokens: dict[str, list[str]], cache_size: int = 10_000) -> None:
        alternatives = [
            f"(?P<{kind}>{'|'.join(re.escape(t) for t in words)})"
            for kind, words in tokens.items()
            if words
        ]
        self._pattern = re.compile("|".join(alternatives), re.IGNORECASE)
        self._memo: dict[str, str | None] = {}
        self._cache_size = cache_size
        self.describe = lru_cache(maxsize=cache_size)(self._describe)

    @classmethod
    def load(cls, path: Path | None = None, cache_size: int = 10_000) -> AgentClassifier:
        path = path or rules_dir() / "bots.toml"
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as error:
            raise ValueError(f"{path}: cannot read bot tokens ({error})") from None
        tokens = {
            kind.replace("-", "_"): list(table.get("tokens", [])) for kind, table in data.items()
        }
        return cls(tokens, cache_size)

    def bot_kind(self, user_agent: str) -> str | None:
        """The bots.toml kind of this client, or None for a browser."""
        if not user_agent:
            return UNKNOWN_CLIENT
        try:
            return self._memo[user_agent]
        except KeyError:
            pass
        match = self._pattern.search(user_agent[:MAX_AGENT_LENGTH])
        kind = match.lastgroup if match else None
        if len(self._memo) >= self._cache_size:
            self._memo.clear()
        self._memo[user_agent] = kind
        return kind

    def _describe(self, user_agent: str) -> AgentInfo:
        kind = self.bot_kind(user_agent)
        try:
            parsed = user_agents.parse(user_agent[:MAX_AGENT_LENGTH])
        except Exception:  # a parser bug must not break the caller
            return AgentInfo("Other", None, "Other", "other", kind is not None, kind)
        is_bot = kind is not None or bool(parsed.is_bot)
        if is_bot:
            device = "bot"
        elif parsed.is_tablet:
            device = "tablet"
        elif parsed.is_mobile:
            device = "mobile"
        elif parsed.is_pc:
            device = "desktop"
        else:
            device = "other"
        major = parsed.browser.version[0] if parsed.browser.version else None
        return AgentInfo(
            browser_family=str(parsed.browser.family),
            browser_major=str(major) if major is not None else None,
            os_family=str(parsed.os.family),
            device_class=device,
            is_bot=is_bot,
            bot_kind=kind if kind is not None else ("other" if is_bot else None),
        )
