"""User-agent checks per second on 10,000 distinct browser User-Agents, one core.

``bot_kind`` runs on every request, measured three ways: without its memo (the token regex
on every call, the cost of a User-Agent of a shape never seen before), with a fresh
classifier per pass (each string seen for the first time; versions of one browser share a
memo entry), and warm (the memo already holds every shape). ``describe`` runs off the
request path: uncached (a fresh classifier, the full ua-parser parse, on a 1,000-string
sample because each parse takes about a millisecond) and cached. Baseline: the same loop
calling ``len`` in the same process.

    python benchmarks/bench_agents.py
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.consent.agents import AgentClassifier

AGENT_COUNT = 10_000
DESCRIBE_SAMPLE = 1_000

BROWSER_TEMPLATES = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/{major}.0.{build}.{patch} Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/{major}.0.{build}.{patch} Safari/537.36 Edg/{major}.0.{build}.{patch}",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/{major}.0.{build}.{patch} Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:{major}.0) Gecko/20100101 "
    "Firefox/{major}.{minor}",
    "Mozilla/5.0 (X11; Linux x86_64; rv:{major}.0) Gecko/20100101 Firefox/{major}.{minor}",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/{ios}.{minor} Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS {ios}_{minor} like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/{ios}.{minor} Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (iPad; CPU OS {ios}_{minor} like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/{ios}.{minor} Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android {android}; K) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/{major}.0.{build}.{patch} Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android {android}; SAMSUNG SM-S{build}B) AppleWebKit/537.36 "
    "(KHTML, like Gecko) SamsungBrowser/{minor}.0 Chrome/{major}.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Android {android}; Mobile; rv:{major}.0) Gecko/{major}.0 Firefox/{major}.0",
]


def browser_agents(count: int) -> list[str]:
    """Distinct, realistic browser User-Agent strings: the templates with varied versions."""
    rng = random.Random(7)
    agents: set[str] = set()
    while len(agents) < count:
        agents.add(
            rng.choice(BROWSER_TEMPLATES).format(
                major=rng.randint(100, 145),
                minor=rng.randint(0, 9),
                build=rng.randint(1000, 7500),
                patch=rng.randint(0, 250),
                ios=rng.randint(15, 26),
                android=rng.randint(9, 16),
            )
        )
    ordered = sorted(agents)
    rng.shuffle(ordered)
    return ordered


def per_second(
    make: Callable[[], Callable[[str], object]], agents: list[str], repeat: int = 5
) -> float:
    """Best rate over ``repeat`` passes; ``make`` builds the function to time before each one."""
    best = float("inf")
    for _ in range(repeat):
        function = make()
        start = time.perf_counter()
        for agent in agents:
            function(agent)
        best = min(best, time.perf_counter() - start)
    return len(agents) / best


def warmed(function: Callable[[str], object], agents: list[str]) -> Callable[[str], object]:
    for agent in agents:
        function(agent)
    return function


def main() -> None:
    agents = browser_agents(AGENT_COUNT)
    sample = agents[:DESCRIBE_SAMPLE]
    warm = AgentClassifier.load()
    warm_describe = AgentClassifier.load()
    rows = [
        (
            "bot_kind, no memo (the regex every call)",
            AGENT_COUNT,
            per_second(lambda: AgentClassifier.load(cache_size=0).bot_kind, agents),
        ),
        (
            "bot_kind, fresh classifier",
            AGENT_COUNT,
            per_second(lambda: AgentClassifier.load().bot_kind, agents),
        ),
        (
            "bot_kind, warm",
            AGENT_COUNT,
            per_second(lambda: warmed(warm.bot_kind, agents), agents),
        ),
        (
            "describe, uncached (ua-parser)",
            DESCRIBE_SAMPLE,
            per_second(lambda: AgentClassifier.load().describe, sample, repeat=1),
        ),
        (
            "describe, cached",
            AGENT_COUNT,
            per_second(lambda: warmed(warm_describe.describe, agents), agents),
        ),
    ]
    # Measured last, once the CPU has ramped up: measured first it varied 8x between runs.
    baseline = per_second(lambda: len, agents, repeat=20)
    mean_length = sum(map(len, agents)) / len(agents)
    print(f"{AGENT_COUNT:,} distinct browser User-Agents, {mean_length:.0f} characters on average")
    print(f"{'baseline: len()':40} {baseline:>14,.0f} calls/s")
    for name, count, rate in rows:
        print(
            f"{name:40} {rate:>14,.0f} calls/s  {1e6 / rate:9.2f} us/call  "
            f"{rate / baseline:8.2%} of baseline  ({count:,} strings)"
        )


if __name__ == "__main__":
    main()
