"""``consent-gateway records``: export, show, erase, verify and purge, on SQLite and
PostgreSQL; a large export streams in bounded memory."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from gateway import ConsentMiddleware, Settings
from gateway.cli import main
from gateway.store import ConsentRecord, Store, open_store, sqlite_path
from gateway.store.base import GENESIS, RECORD_COLUMNS, appended, row_values
from tests.support.apps import cookie_app

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime.now(UTC).replace(microsecond=0)


def record(consent_id: str, days_ago: float) -> ConsentRecord:
    return ConsentRecord(
        consent_id=consent_id,
        decided_at=NOW - timedelta(days=days_ago),
        policy_version="1",
        categories={"essential": True, "analytics": True},
        regime="opt-in",
        source="user",
        action="grant",
        country="NL",
        subdivision=None,
        user_agent=None,
        method="accept_all",
        path="/",
        layer="banner",
        banner_hash="cd" * 32,
        language="nl",
    )


@pytest.fixture
def config(tmp_path: Path, database_url: str) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(
        'secret = "a-secret-of-32-characters-0123456789"\n'
        f"database_url = {json.dumps(database_url)}\nrecord_retention_days = 30\n"
    )
    return path


@pytest.fixture
def store(database_url: str, config: Path) -> Iterator[Store]:
    opened = open_store(database_url)
    yield opened
    opened.close()


def records_cli(
    capsys: pytest.CaptureFixture[str], config: Path, *args: str
) -> tuple[int, str, str]:
    status = main(["records", *args, "--config", str(config)])
    out, err = capsys.readouterr()
    return status, out, err


def test_verify_passes_then_names_the_row_edited_in_the_database(
    store: Store, database_url: str, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for n in range(10):
        store.record_consent(record(f"id{n}", n))
    status, out, _ = records_cli(capsys, config, "verify")
    assert (status, out.split(":")[0]) == (0, "OK")
    sql = "UPDATE {p}consent_records SET country = 'FR' WHERE seq = 4"
    path = sqlite_path(database_url)
    if path is not None:
        with sqlite3.connect(path) as db:
            db.execute(sql.format(p=""))
    else:
        with psycopg.connect(database_url, autocommit=True) as db:
            db.execute(sql.format(p="cg_"))
    status, out, _ = records_cli(capsys, config, "verify")
    assert status == 1
    assert out.startswith("BAD: record 4:")
    assert "changed" in out


def test_export_show_erase_and_purge(
    store: Store, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for n in range(6):
        store.record_consent(record("old" if n < 2 else f"new{n}", 40 - n * 5))  # 40..15
    store.record_consent(record("new2", 1))
    status, out, _ = records_cli(capsys, config, "export")
    assert status == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert [row["sequence"] for row in rows] == [1, 2, 3, 4, 5, 6, 7]
    assert rows[0]["categories"] == {"analytics": True, "essential": True}
    since = (NOW - timedelta(days=31)).isoformat()
    status, out, _ = records_cli(capsys, config, "export", "--since", since, "--format", "csv")
    found = list(csv.DictReader(io.StringIO(out)))
    assert [row["consent_id"] for row in found] == ["new2", "new3", "new4", "new5", "new2"]
    assert json.loads(found[0]["categories"])["analytics"] is True

    status, out, _ = records_cli(capsys, config, "show", "new2")
    assert (status, len(out.splitlines())) == (0, 2)
    status, out, err = records_cli(capsys, config, "show", "nobody")
    assert status == 1 and "no records" in err

    status, out, _ = records_cli(capsys, config, "erase", "new3")
    assert status == 0
    assert json.loads(out)["erased"]["consent_records"] == 1
    assert store.consent_history("new3") == []

    status, out, _ = records_cli(capsys, config, "purge", "--batch", "2")
    assert status == 0
    # 40, 35 and 30 days old (30 is the limit), and the erased one after them
    assert out.startswith("purged 4 records")
    assert store.consent_history("old") == []
    assert [r.sequence for r in store.consent_history("new2")] == [7]
    assert records_cli(capsys, config, "verify")[0] == 0


def test_a_date_that_does_not_parse_is_refused(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main(["records", "export", "--since", "yesterday", "--config", str(config)])
    assert "ISO date" in capsys.readouterr().err


def fill(database_url: str, count: int) -> None:
    """``count`` chained records written in one transaction, as the store would append them
    one by one (quicker than 200,000 transactions)."""
    base = datetime(2026, 1, 1, tzinfo=UTC)
    head = (0, GENESIS)

    def rows() -> Iterator[tuple[Any, ...]]:
        nonlocal head
        for n in range(count):
            moment = base + timedelta(seconds=n)
            stored = appended(replace(record(f"visitor{n:015d}", 0), decided_at=moment), head)
            head = (stored.sequence, stored.record_hash)
            yield row_values(stored)

    columns = ", ".join(RECORD_COLUMNS)
    path = sqlite_path(database_url)
    if path is not None:
        marks = ", ".join("?" * len(RECORD_COLUMNS))
        with sqlite3.connect(path) as db:
            db.executemany(f"INSERT INTO consent_records ({columns}) VALUES ({marks})", rows())
            db.execute("UPDATE consent_chain SET seq = ?, hash = ? WHERE name = 'head'", head)
        return
    with psycopg.connect(database_url) as db, db.cursor() as cursor:
        with cursor.copy(f"COPY cg_consent_records ({columns}) FROM STDIN") as copy:
            for row in rows():
                copy.write_row(row)
        cursor.execute("UPDATE cg_consent_chain SET seq = %s, hash = %s WHERE name = 'head'", head)


MEASURE = """
import sys, os, time
from gateway import ConsentMiddleware, Settings
from gateway.cli import main
from gateway.store import open_store
open_store(sys.argv[1]).close()  # everything imported and opened once
def kb(field):
    with open("/proc/self/status") as lines:  # in kB
        return next(int(line.split()[1]) for line in lines if line.startswith(field))
with open("/proc/self/clear_refs", "w") as clear:
    clear.write("5")  # the peak (VmHWM) starts again from the resident set now
before = kb("VmRSS:")
sys.stdout = open(os.devnull, "w")
started = time.perf_counter()
status = main(["records", "export", "--format", sys.argv[2], "--config", sys.argv[3]])
after = kb("VmHWM:")
seconds = time.perf_counter() - started
sys.stderr.write(f"peak RSS growth: {(after - before) / 1024:.1f} MB in {seconds:.1f} s\\n")
sys.exit(status if status else (0 if after - before < 50 * 1024 else 3))
"""


@pytest.mark.slow
@pytest.mark.parametrize("form", ["jsonl", "csv"])
def test_an_export_of_200000_records_streams_in_under_50_mb(
    database_url: str, config: Path, store: Store, form: str
) -> None:
    fill(database_url, 200_000)
    assert store.verify_records().checked == 200_000
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, database_url, form, str(config)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    print(done.stderr)
    assert done.returncode == 0, done.stderr
    assert "exported 200000 records" in done.stderr


@pytest.mark.slow  # builds a gateway
def test_banners_prints_the_hash_a_record_of_each_language_holds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(
        'secret = "a-secret-of-32-characters-0123456789"\n[banner_texts.de]\ntitle = "Hallo"\n'
    )
    assert main(["records", "banners", "--config", str(path)]) == 0
    printed = dict(line.split("\t") for line in capsys.readouterr().out.splitlines())
    gateway = ConsentMiddleware(cookie_app(), Settings.load(path, environ={}))
    banner = gateway.gateway.banner
    assert printed["de"] == banner.shown_hash("de")
    assert printed["en"] == banner.shown_hash("en") != printed["de"]
    assert len(printed) == 10
