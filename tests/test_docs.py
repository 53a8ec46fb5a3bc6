"""The docs say what the code does: the settings reference is the code's, the examples load."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
GENERATOR = ROOT / "scripts" / "settings_reference.py"
README_LIMIT = 8192  # bytes: the README says what it is and where to read on; docs/ says the rest


def check(page: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(GENERATOR), "--check", "--page", str(page)],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.slow
def test_the_settings_reference_matches_the_code() -> None:
    result = check(DOCS / "settings.md")
    assert result.returncode == 0, result.stderr


@pytest.mark.slow
def test_the_check_notices_a_page_that_no_longer_matches(tmp_path: Path) -> None:
    page = (DOCS / "settings.md").read_text(encoding="utf-8")
    stale = tmp_path / "settings.md"
    stale.write_text(page.replace("**Default** `182`", "**Default** `365`"), encoding="utf-8")
    result = check(stale)
    assert result.returncode == 1
    assert "does not match the Settings in the code" in result.stderr


def test_the_environment_variables_named_in_the_reference_are_read() -> None:
    page = (DOCS / "settings.md").read_text(encoding="utf-8")
    entry = page[page.index("### `policy_version`") :]
    variable = re.search(r"\*\*Environment\*\* `([A-Z_]+)`", entry)
    assert variable is not None
    assert Settings.load(environ={variable[1]: "2026-12"}).policy_version == "2026-12"


def toml_examples() -> list[object]:
    """Every TOML block in docs/ but the rules files (`[[vendor]]`): settings files."""
    found: list[object] = []
    for page in sorted(DOCS.glob("*.md")):
        blocks = re.findall(r"^```toml\n(.*?)^```", page.read_text(encoding="utf-8"), re.M | re.S)
        settings = [block for block in blocks if "[[vendor]]" not in block]
        found += [pytest.param(block, id=f"{page.name}-{n}") for n, block in enumerate(settings)]
    return found


@pytest.mark.parametrize("example", toml_examples())
def test_the_settings_examples_in_the_docs_are_valid(example: str, tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(example, encoding="utf-8")
    Settings.load(path, environ={})  # raises SettingsError, naming the key, when invalid


def test_the_readme_stays_short() -> None:
    assert len((ROOT / "README.md").read_bytes()) <= README_LIMIT
