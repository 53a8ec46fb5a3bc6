"""The ``Dockerfile`` and ``examples/compose/`` without a Docker engine: the Dockerfile's
steps run as they are written, in a fresh virtual environment (``pip install`` of the
checkout, then the ``CMD`` and the ``HEALTHCHECK`` against nginx), and the compose file
names the services and real settings."""

from __future__ import annotations

import json
import shlex
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from gateway.settings import ENV_PREFIX, Settings
from tests.support.apps import SECRET
from tests.support.servers import free_port
from tests.support.upstreams import wait_for_port

pytestmark = pytest.mark.slow  # a pip install into a new venv, the gateway in a process

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "examples" / "compose" / "compose.yaml"


def instructions(dockerfile: Path) -> Iterator[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` of each step, continuation lines joined."""
    step = ""
    for line in dockerfile.read_text().splitlines():
        if not step and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.endswith("\\"):
            step += line[:-1] + " "
            continue
        step += line
        name, _, arguments = step.strip().partition(" ")
        yield name.upper(), arguments.strip()
        step = ""


class Image:
    """The file system the Dockerfile builds, under ``root`` (``/data`` is ``root/data``)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.venv = root / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(self.venv)], check=True)
        self.workdir = root
        self.env: dict[str, str] = {}
        self.directories: list[str] = []
        self.cmd: list[str] = []
        self.healthcheck: list[str] = []
        self.user = ""

    def at(self, path: str) -> Path:
        return self.root / path.lstrip("/")

    def within(self, value: str) -> str:
        """``value`` with the image's directories moved under ``root``."""
        for directory in self.directories:
            value = value.replace(directory + "/", str(self.at(directory)) + "/")
        return value

    def step(self, name: str, arguments: str) -> None:
        if name == "FROM":
            assert arguments.startswith("python:3.11")
        elif name == "WORKDIR":
            self.directories.append(arguments)
            self.workdir = self.at(arguments)
            self.workdir.mkdir(parents=True, exist_ok=True)
        elif name == "COPY":
            *sources, target = shlex.split(arguments)
            for source in sources:
                origin = ROOT / source
                destination = self.workdir / target
                if origin.is_dir():  # its contents, into the target directory
                    shutil.copytree(origin, destination)
                else:
                    shutil.copy(origin, destination)
        elif name == "RUN":
            for command in arguments.split("&&"):
                self.run(shlex.split(command))
        elif name == "USER":
            self.user = arguments
        elif name == "ENV":
            key, _, value = arguments.partition("=")
            self.env[key] = self.within(value)
        elif name == "EXPOSE":
            assert arguments == "8000"
        elif name == "HEALTHCHECK":
            kind, _, form = arguments.partition(" ")
            assert kind == "CMD"
            self.healthcheck = json.loads(form)
        elif name == "CMD":
            self.cmd = json.loads(arguments)
        else:
            raise AssertionError(f"a Dockerfile step this test does not know: {name}")

    def run(self, command: list[str]) -> None:
        if command[:2] == ["pip", "install"]:
            pip = [str(self.venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
            subprocess.run([*pip, *command[2:]], cwd=self.workdir, check=True)
        elif command[0] == "useradd":
            # Not run here (it would add a user to this machine): its home is made instead.
            home = command[command.index("--home-dir") + 1]
            assert "--create-home" in command
            self.at(home).mkdir(parents=True, exist_ok=True)
        else:
            raise AssertionError(f"a RUN command this test does not know: {command}")


def test_dockerfile_steps_serve_a_site_through_the_gateway(nginx: str, tmp_path: Path) -> None:
    image = Image(tmp_path)
    for name, arguments in instructions(ROOT / "Dockerfile"):
        image.step(name, arguments)
    assert image.user == "gateway"  # never root
    assert image.cmd[:2] == ["consent-gateway", "serve"]
    assert "--upstream" not in image.cmd  # CONSENT_GATEWAY_UPSTREAM says where
    port = str(free_port())
    command = [port if part == "8000" else part for part in image.cmd]
    env = {
        "PATH": f"{image.venv / 'bin'}:/usr/bin:/bin",
        "HOME": str(image.workdir),
        ENV_PREFIX + "UPSTREAM": nginx,
        ENV_PREFIX + "SECRET": SECRET,
        **image.env,
    }
    with (tmp_path / "gateway.log").open("wb") as log:
        server = subprocess.Popen(command, cwd=image.workdir, env=env, stdout=log, stderr=log)
        try:
            wait_for_port(int(port), server, "the Dockerfile's CMD")
            page = httpx.get(f"http://127.0.0.1:{port}/", headers={"accept": "text/html"})
            assert page.status_code == 200
            assert "A static site" in page.text
            assert "/_consent/" in page.text  # the banner's tags: the gateway rewrote it
            check = [part.replace(":8000/", f":{port}/") for part in image.healthcheck]
            subprocess.run(check, env=env, check=True, timeout=30)
            server.send_signal(signal.SIGTERM)
            assert server.wait(30) == 0
        finally:
            if server.poll() is None:
                server.kill()
                server.wait()
    database = image.env[ENV_PREFIX + "DATABASE_URL"].removeprefix("sqlite:///")
    assert Path(database).is_relative_to(tmp_path / "data")
    assert Path(database).exists()  # the store opened where the image keeps its data


def test_compose_puts_the_gateway_in_front_of_a_site_with_postgres() -> None:
    compose = yaml.safe_load(COMPOSE.read_text())
    services = compose["services"]
    assert set(services) == {"gateway", "site", "postgres"}
    gateway = services["gateway"]
    assert (COMPOSE.parent / gateway["build"] / "Dockerfile").exists()
    assert gateway["ports"] == ["8000:8000"]
    environment: dict[str, str] = gateway["environment"]
    names = {name.removeprefix(ENV_PREFIX).lower() for name in environment}
    assert all(name.startswith(ENV_PREFIX) for name in environment)
    assert names <= set(Settings.model_fields), names - set(Settings.model_fields)
    environ = {**environment, ENV_PREFIX + "SECRET": SECRET}
    settings = Settings.load(environ=environ)
    assert settings.upstream == ["http://site:80"]
    assert settings.database_url.startswith("postgresql://")
    postgres = services["postgres"]["environment"]
    user, password, database = (
        postgres[key] for key in ("POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB")
    )
    assert settings.database_url == f"postgresql://{user}:{password}@postgres:5432/{database}"
    assert services["site"]["image"].startswith("nginx")
    site = services["site"]["volumes"][0].split(":")[0]
    assert (COMPOSE.parent / site / "index.html").exists()
    assert "ports" not in services["site"]  # reached through the gateway only
