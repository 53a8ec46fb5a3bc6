"""The rules file the admin page writes: what the rules loader reads, replaced atomically,
and never a file the loader would refuse."""

from __future__ import annotations

import asyncio
import time
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway import Settings
from gateway.admin.classify import ClassifyError, classify
from gateway.app import Gateway
from gateway.consent.state import Category
from gateway.cookies.policy import CookiePolicy, classified_rules_path
from gateway.cookies.rules import load_site_rule_file
from tests.support.apps import SECRET

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def test_a_classification_is_a_rule_the_loader_reads(tmp_path: Path) -> None:
    path = tmp_path / "rules" / "classified.toml"
    rule = classify(path, "promo_ref", "marketing", NOW)
    assert (rule.name, rule.category, rule.vendor) == (
        "promo_ref",
        Category.MARKETING,
        "Classified in the admin page",
    )
    classify(path, 'odd"name\\', "analytics", NOW)
    classify(path, "promo_ref", "preferences", NOW)  # classified again: replaced
    rules = {r.name: r.category for r in load_site_rule_file(path)}
    assert rules == {"promo_ref": Category.PREFERENCES, 'odd"name\\': Category.ANALYTICS}
    assert "2026-12-07" in path.read_text()
    assert oct(path.stat().st_mode & 0o777) == "0o644"
    assert [p.name for p in path.parent.iterdir()] == ["classified.toml"]  # no temporary left


def test_names_and_categories_are_checked(tmp_path: Path) -> None:
    path = tmp_path / "classified.toml"
    for name, category in (
        ("", "marketing"),
        ("a=b", "marketing"),
        ("a;b", "marketing"),
        (" a", "marketing"),
        ("é", "marketing"),
        ("x" * 257, "marketing"),
        ("ok", "tracking"),
        ("ok", ""),
    ):
        with pytest.raises(ClassifyError):
            classify(path, name, category, NOW)
    assert not path.exists()


def test_a_file_the_loader_refuses_is_reported_not_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "classified.toml"
    path.write_text("[[vendor]]\nname = 'x'\ncookies = [{name = 'a'}]\n")
    before = path.read_text()
    with pytest.raises(ValueError, match="category"):
        classify(path, "promo_ref", "marketing", NOW)
    assert path.read_text() == before


def test_hand_written_keys_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "classified.toml"
    path.write_text(
        "[[vendor]]\nname = 'mine'\n[[vendor.cookies]]\nname = 'pref_'\nmatch = 'prefix'\n"
        "category = 'preferences'\nretention = '1 year'\npurpose = 'Theme.'\noverride = true\n"
    )
    classify(path, "promo_ref", "marketing", NOW)
    cookies = tomllib.loads(path.read_text())["vendor"][0]["cookies"]
    assert cookies[0] == {
        "name": "pref_",
        "match": "prefix",
        "category": "preferences",
        "retention": "1 year",
        "purpose": "Theme.",
        "override": True,
    }


def test_the_file_lies_beside_the_sqlite_database_unless_set(tmp_path: Path) -> None:
    beside = Settings.load(environ={}, secret=SECRET, database_url=f"sqlite:///{tmp_path}/c.db")
    assert classified_rules_path(beside) == tmp_path / "classified-cookies.toml"
    relative = Settings.load(environ={}, secret=SECRET, database_url="sqlite:///data/c.db")
    assert classified_rules_path(relative) == Path("data/classified-cookies.toml")
    postgres = Settings.load(environ={}, secret=SECRET, database_url="postgresql://db/x")
    assert classified_rules_path(postgres) == Path("classified-cookies.toml")
    chosen = Settings.load(
        environ={}, secret=SECRET, classified_rules_file=str(tmp_path / "mine.toml")
    )
    assert classified_rules_path(chosen) == tmp_path / "mine.toml"


def test_the_gateway_reads_the_file_with_the_site_rules(tmp_path: Path) -> None:
    settings = Settings.load(environ={}, secret=SECRET, database_url=f"sqlite:///{tmp_path}/c.db")
    assert CookiePolicy(settings).classifier.classify("promo_ref") is None
    classify(classified_rules_path(settings), "promo_ref", "marketing", NOW)
    assert CookiePolicy(settings).category_of("promo_ref") is Category.MARKETING


async def test_a_running_gateway_picks_up_another_worker_s_classification(
    tmp_path: Path,
) -> None:
    """The admin page reloads only its own worker; the others watch the file it writes."""
    settings = Settings.load(
        environ={},
        secret=SECRET,
        database_url=f"sqlite:///{tmp_path}/c.db",
        rules_reload_interval=0.05,
    )
    gateway = Gateway(settings)
    await gateway.start()
    try:
        assert gateway.cookies.classifier.classify("promo_ref") is None
        classify(classified_rules_path(settings), "promo_ref", "marketing", NOW)
        deadline = time.monotonic() + 30
        while gateway.cookies.category_of("promo_ref") is not Category.MARKETING:
            assert time.monotonic() < deadline, "the classification was never read"
            await asyncio.sleep(0.02)
    finally:
        await gateway.aclose()
