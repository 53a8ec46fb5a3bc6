"""The command line: `check` refuses what a server refuses, and commands that read the
database never create one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.store import open_store

ROOT = Path(__file__).resolve().parents[2]
# Runs the command line in a Python where `import psycopg` fails, as without the extra.
WITHOUT_PSYCOPG = (
    "import sys; sys.modules['psycopg'] = None; from gateway.cli import main; "
    "sys.exit(main(sys.argv[1:]))"
)


def settings_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text('secret = "a-secret-of-32-characters-0123456789"\n' + text)
    return path


def test_check_refuses_a_declared_vendor_serve_would_refuse(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", str(settings_file(tmp_path, 'declared_vendors = ["Youtube"]\n'))]) == 2
    error = capsys.readouterr().err
    assert "declared_vendors" in error
    assert "Youtube" in error
    assert main(["check", str(settings_file(tmp_path, 'declared_vendors = ["YouTube"]\n'))]) == 0


def test_check_refuses_a_database_url_no_store_can_open(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", str(settings_file(tmp_path, 'database_url = "mysql://db/x"\n'))]) == 2
    assert "unsupported database_url" in capsys.readouterr().err


def run_without_psycopg(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_PSYCOPG, *args],
        cwd=cwd,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.slow
def test_check_and_serve_refuse_postgresql_without_psycopg(tmp_path: Path) -> None:
    config = settings_file(tmp_path, 'database_url = "postgresql://consent@db.internal/x"\n')
    checked = run_without_psycopg("check", str(config), cwd=tmp_path)
    assert checked.returncode == 2, checked.stderr
    assert "pip install 'consent-gateway[postgres]'" in checked.stderr
    # The server refuses to start, instead of answering every decision with 503.
    served = run_without_psycopg("demo", "--config", str(config), "--port", "0", cwd=tmp_path)
    assert served.returncode == 2, served.stderr
    assert "pip install 'consent-gateway[postgres]'" in served.stderr
    assert "demo site on" not in served.stderr


def test_scan_names_a_missing_database_and_does_not_create_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CONSENT_GATEWAY_DATABASE_URL", raising=False)
    assert main(["scan"]) == 2
    error = capsys.readouterr().err
    assert str(tmp_path / "consent-gateway.sqlite3") in error
    assert "does not exist" in error
    assert list(tmp_path.iterdir()) == []


def test_scan_says_which_database_it_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    database = tmp_path / "consent.db"
    open_store(f"sqlite:///{database}").close()
    config = settings_file(tmp_path, f'database_url = "sqlite:///{database}"\n')
    monkeypatch.delenv("CONSENT_GATEWAY_DATABASE_URL", raising=False)
    assert main(["scan", "--config", str(config)]) == 0
    captured = capsys.readouterr()
    assert f"reading {database}" in captured.err
    assert "No unclassified cookies recorded." in captured.out


def test_scan_does_not_show_a_database_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Nothing listens on port 9 of loopback: the connection fails, clearly.
    url = "postgresql://consent:hunter2@127.0.0.1:9/consent?connect_timeout=5"
    config = settings_file(tmp_path, f'database_url = "{url}"\n')
    assert main(["scan", "--config", str(config)]) == 2
    error = capsys.readouterr().err
    assert "postgresql://consent:***@127.0.0.1:9/consent" in error
    assert "hunter2" not in error
