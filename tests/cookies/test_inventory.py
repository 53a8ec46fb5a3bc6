"""Unknown cookie names are counted in bounded memory that keeps the most frequent: a real
unknown cookie survives a flood of made-up names, in the pending batch, in the store and in
``consent-gateway scan``."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from gateway import ConsentMiddleware, Settings
from gateway.cli import main
from gateway.cookies.inventory import UnknownCookieLog
from gateway.store import Store
from gateway.store.postgres import PostgresStore
from gateway.store.sqlite import SQLiteStore
from tests.support.apps import SECRET, echo_app
from tests.support.servers import running


def test_a_full_batch_makes_way_for_a_new_name_with_its_least_counted_one() -> None:
    log = UnknownCookieLog(capacity=3)
    for name in ["real", "real", "a", "b", "real", "c", "d", "e"]:
        log.note(name)
    # "c" took the place of "a" (count 1), "d" that of "b" (1), "e" that of "c" (2, older
    # than "d"), each with the count it replaced plus one
    assert log.take() == ({"real": 3, "d": 2, "e": 3}, {"d": 1, "e": 2})
    assert log.take() == ({}, {})


def store_for(database_url: str, tmp_path: Path) -> Store:
    """The gateway's store, with room for 200 names."""
    if database_url.startswith("sqlite"):
        return SQLiteStore(str(tmp_path / "consent.db"), max_unknown_names=200)
    return PostgresStore(database_url, max_unknown_names=200)


@pytest.mark.slow
def test_a_cookie_many_visitors_send_survives_a_flood_and_scan_lists_it(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings.load(environ={}, secret=SECRET, database_url=database_url)
    gateway = ConsentMiddleware(echo_app(), settings, store=store_for(database_url, tmp_path))
    gateway.gateway.cookies.unknown_log.capacity = 100
    gateway.gateway.cookies.unknown_log.flush_interval = 0.05
    made_up = (f"made_up_{number}" for number in range(100_000))

    def flood(url: str, names: int) -> None:
        cookie = "; ".join(f"{next(made_up)}=1" for _ in range(names))
        httpx.get(url + "/", headers={"cookie": cookie})

    with running(gateway) as url:
        deadline = time.monotonic() + 30
        while len(gateway.gateway.store.get().unknown_cookies()) < 200:  # the store's table is full
            assert time.monotonic() < deadline
            flood(url, 100)
            time.sleep(0.1)
        for visitor in range(60):  # one cookie of the site's, sent by 60 visitors
            httpx.get(url + "/", headers={"cookie": f"legacy_cart={visitor}; sessionid=s"})
            flood(url, 50)
    config = tmp_path / "settings.toml"
    config.write_text(f'database_url = "{database_url}"\n', encoding="utf-8")
    assert main(["scan", "--config", str(config), "--limit", "3", "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found[0]["name"] == "legacy_cart"
    assert found[0]["count"] - found[0]["error"] <= 60 <= found[0]["count"]
    assert all(row["count"] - row["error"] == 1 for row in found[1:])
    assert main(["scan", "--config", str(config), "--limit", "1"]) == 0
    assert "'legacy_cart'" in capsys.readouterr().out
