"""The admin page's numbers: choices tallied with the visits that made none, bars drawn in
proportion, and the daily counts of several workers adding up in one store."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from gateway.admin.charts import Series, stacked_bars
from gateway.admin.daily import SHOWN, SKIPPED, DailyCounts
from gateway.admin.pages import tallies
from gateway.metrics import Metrics
from gateway.store import DailyCount, DecisionCount
from gateway.store.handle import StoreHandle

SERIES = [Series("accept_all", "Accept all"), Series("reject_all", "Reject all")]


def test_no_choice_is_the_visits_shown_the_banner_less_the_decisions() -> None:
    found = tallies(
        [
            DecisionCount("2026-12-01", "opt-in", "DE", "1", "accept_all", 3),
            DecisionCount("2026-12-01", "opt-in", "DE", "1", "reject_all", 1),
            DecisionCount("2026-12-01", "opt-in", "DE", "1", "withdraw", 5),
            DecisionCount("2026-12-01", "opt-in", None, "1", "custom", 1),
        ],
        [
            DailyCount("2026-12-01", SHOWN, "opt-in/DE/1", 10),
            DailyCount("2026-12-01", SHOWN, "opt-in/--/1", 1),  # all of them decided
            DailyCount("2026-12-02", SHOWN, "opt-out/US/1", 2),
        ],
    )
    assert found.by_day == {
        "2026-12-01": {"accept_all": 3, "reject_all": 1, "custom": 1, "no_choice": 6},
        "2026-12-02": {"no_choice": 2},
    }
    assert found.by_country["--"] == {"custom": 1}
    assert found.by_regime["opt-out"] == {"no_choice": 2}


def test_bars_are_drawn_in_proportion_with_text_for_each_part() -> None:
    svg = stacked_bars(
        "c",
        "Choices",
        "summary",
        ["2026-12-01", "2026-12-02", "2026-12-03"],
        {"2026-12-01": {"accept_all": 3, "reject_all": 1}, "2026-12-03": {"reject_all": 2}},
        SERIES,
    )
    heights = [float(h) for h in re.findall(r'<rect class="s-\w+"[^>]* height="([\d.]+)"', svg)]
    assert len(heights) == 3  # the empty day has no bar
    assert abs(heights[0] - 3 * heights[1]) < 0.2 and abs(heights[2] - sum(heights[:2])) < 0.2
    assert "<title>2026-12-01: Accept all 75% (3)</title>" in svg
    assert 'role="img"' in svg and "style=" not in svg
    assert ">12-01<" in svg


def test_group_names_are_escaped() -> None:
    svg = stacked_bars("c", "<t>", "s", ['<script>"'], {'<script>"': {"accept_all": 1}}, SERIES)
    assert "<script>" not in svg and "&lt;script&gt;" in svg


async def test_workers_add_their_batches_to_one_store(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'consent.db'}"
    workers = [DailyCounts(StoreHandle(url), Metrics()) for _ in range(2)]
    for worker in workers:
        worker.shown("opt-in", "DE", "1")
        worker.shown("opt-in", None, "1")
        worker.metrics.pages_skipped.labels("csp").inc(2)
        await worker.flush()
    workers[0].metrics.pages_skipped.labels("csp").inc()
    workers[0].metrics.tally.add(workers[0].metrics.skipped["bot"])  # not handed over yet
    await workers[0].flush()
    await workers[0].flush()  # nothing new: nothing written
    store = workers[0].store.get()
    day = store.daily_counts(SHOWN, "2000-01-01")[0].day
    assert {(c.label, c.count) for c in store.daily_counts(SHOWN, day)} == {
        ("opt-in/DE/1", 2),
        ("opt-in/--/1", 2),
    }
    assert {(c.label, c.count) for c in store.daily_counts(SKIPPED, day)} == {
        ("csp", 5),
        ("bot", 1),
    }
    for worker in workers:
        worker.store.close()


async def test_a_batch_the_store_refused_is_kept_for_the_next(tmp_path: Path) -> None:
    handle = StoreHandle(f"sqlite:///{tmp_path / 'missing' / 'consent.db'}")
    counts = DailyCounts(handle, Metrics())
    counts.shown("opt-in", "DE", "1")
    await counts.flush()  # the directory does not exist: the store cannot open
    assert counts.take() == {(SHOWN, "opt-in/DE/1"): 1}


async def test_the_task_writes_batches_off_the_request_path_and_the_rest_at_close(
    tmp_path: Path,
) -> None:
    counts = DailyCounts(StoreHandle(f"sqlite:///{tmp_path / 'consent.db'}"), Metrics())
    counts.flush_seconds = 0.01
    counts.start()
    counts.shown("opt-in", "DE", "1")
    store = counts.store.get()
    for _ in range(500):  # until the task has written the batch
        if store.daily_counts(SHOWN, "2000-01-01"):
            break
        await asyncio.sleep(0.01)
    assert [c.count for c in store.daily_counts(SHOWN, "2000-01-01")] == [1]
    counts.flush_seconds = 3600.0
    await asyncio.sleep(0.05)  # the task now waits an hour
    counts.shown("opt-in", "DE", "1")
    await counts.aclose()  # stops the task and writes what is left
    assert [c.count for c in store.daily_counts(SHOWN, "2000-01-01")] == [2]
    counts.store.close()
