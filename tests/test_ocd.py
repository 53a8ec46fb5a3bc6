"""Importing the Open Cookie Database into a site rules file."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.cli import main
from gateway.consent import Category
from gateway.ocd import import_ocd, toml_string
from gateway.rules import Classifier, load_site_rule_file

OCD = Path(__file__).resolve().parent / "data" / "open-cookie-database.csv"


def test_the_real_database_imports_and_classifies(tmp_path: Path) -> None:
    text, report = import_ocd(OCD)
    assert report.vendors > 300
    assert 2000 < report.cookies + len(report.skipped) <= 2264
    (tmp_path / "ocd.toml").write_text(text)
    rules = load_site_rule_file(tmp_path / "ocd.toml")
    assert len(rules) == report.cookies
    classifier = Classifier(rules)

    def category(name: str) -> Category | None:
        rule = classifier.classify(name)
        return rule.category if rule else None

    assert category("_ga") is Category.ANALYTICS
    assert category("_fbp") is Category.MARKETING
    assert category("PHPSESSID") is Category.ESSENTIAL
    assert category("_ga_ABC123") is Category.ANALYTICS  # a wildcard row is a prefix


def test_cli_writes_a_rules_file_the_settings_can_load(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "site-rules.toml"
    assert main(["rules", "import-ocd", str(OCD), "-o", str(out)]) == 0
    assert tomllib.loads(out.read_text())["vendor"]
    config = tmp_path / "gateway.toml"
    config.write_text(f"rule_files = [{toml_string(str(out))}]\n")
    capsys.readouterr()
    # Site rules win over the built-in ones, so _ga is now classified by the imported file.
    assert main(["classify", "--json", "--config", str(config), "_ga"]) == 0
    assert str(out) in capsys.readouterr().out


def test_malformed_csv_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "missing.csv"
    missing.write_text("Platform,Category\nGoogle,Analytics\n")
    with pytest.raises(ValueError, match="Cookie / Data Key name"):
        import_ocd(missing)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ValueError, match="missing"):
        import_ocd(empty)
    latin = tmp_path / "latin.csv"
    latin.write_bytes(b"Platform,Category\n\xe9\xff\n")
    with pytest.raises(ValueError, match="UTF-8"):
        import_ocd(latin)


@given(st.text())
def test_toml_strings_read_back_exactly(value: str) -> None:
    assert tomllib.loads(f"v = {toml_string(value)}")["v"] == value
