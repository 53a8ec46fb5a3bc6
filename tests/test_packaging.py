"""A regular (non-editable) install carries rules/ and static/ and works from any directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # builds and installs a wheel

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_install_finds_its_data_from_any_directory(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(wheels),
            str(ROOT),
        ],
        check=True,
    )
    target = tmp_path / "site"
    wheel = next(wheels.glob("consent_gateway-*.whl"))
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import gateway, gateway.resources as r, sys; from gateway.cli import main;"
            "print(gateway.__file__); print(r.rules_dir()); print(r.static_dir());"
            "sys.exit(main(['classify', '_ga']))",
        ],
        cwd=elsewhere,
        env={**os.environ, "PYTHONPATH": str(target)},
        capture_output=True,
        text=True,
        check=True,
    )
    module, rules, static, classified = result.stdout.splitlines()[:4]
    assert module.startswith(str(target))
    assert rules.startswith(str(target)) and (Path(rules) / "cookies").is_dir()
    assert (Path(static) / "consent-banner").is_dir()
    assert (Path(static) / "admin" / "page.html").is_file()  # the admin page's templates
    assert classified.split("\t")[:2] == ["_ga", "analytics"]
