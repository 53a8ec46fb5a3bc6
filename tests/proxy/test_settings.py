"""The proxy's settings and command line: upstream URLs checked at start-up, with errors
that say what is wrong; ``serve`` refuses to start without an upstream."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.cli import main
from gateway.settings import Settings, SettingsError, upstream_address


def test_one_upstream_or_a_list_from_file_environment_or_arguments(tmp_path: Path) -> None:
    assert Settings.load(environ={}, upstream="http://app:8080").upstream == ["http://app:8080"]
    environ = {"CONSENT_GATEWAY_UPSTREAM": "http://a:8080, http://b:8080"}
    assert Settings.load(environ=environ).upstream == ["http://a:8080", "http://b:8080"]
    file = tmp_path / "settings.toml"
    file.write_text('upstream = ["http://a", "http://10.0.0.2:3000/"]\n')
    assert Settings.load(file, environ={}).upstream == ["http://a", "http://10.0.0.2:3000/"]
    defaults = Settings.load(environ={})
    assert (defaults.upstream_connect_timeout, defaults.upstream_read_timeout) == (10.0, 60.0)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("app:8080", "is not an upstream URL like http://app:8080"),
        ("ftp://app", "is not an upstream URL like http://app:8080"),
        ("http://app:8080/shop", "names a host and a port only"),
        ("http://user@app:8080", "names a host and a port only"),
        ("http://app:99999", "the port is not a number"),
    ],
)
def test_bad_upstreams_say_what_is_wrong(url: str, says: str) -> None:
    with pytest.raises(SettingsError, match="upstream") as raised:
        Settings.load(environ={"CONSENT_GATEWAY_UPSTREAM": url})
    assert says in str(raised.value)
    assert "CONSENT_GATEWAY_UPSTREAM" in str(raised.value)


def test_timeouts_and_sizes_are_checked() -> None:
    with pytest.raises(SettingsError, match="upstream_read_timeout"):
        Settings.load(environ={}, upstream_read_timeout=0)
    with pytest.raises(SettingsError, match="max_body_size"):
        Settings.load(environ={}, max_body_size=-1)


def test_serve_needs_an_upstream(capsys: pytest.CaptureFixture[str]) -> None:
    environ_free = ["serve", "--config", "/dev/null"]
    assert main(environ_free) == 2
    assert "no upstream" in capsys.readouterr().err


def test_an_https_upstream_is_port_443_unless_it_says(tmp_path: Path) -> None:
    assert upstream_address("https://app") == ("app", 443)
    assert upstream_address("https://app:8443") == ("app", 8443)
    ca_file = tmp_path / "ca.pem"
    ca_file.write_text("")
    settings = Settings.load(environ={}, upstream="https://app", upstream_ca_file=str(ca_file))
    assert settings.upstream_ca_file == ca_file


def test_the_ca_file_must_exist(tmp_path: Path) -> None:
    missing = tmp_path / "ca.pem"
    with pytest.raises(SettingsError, match="upstream_ca_file") as raised:
        Settings.load(environ={"CONSENT_GATEWAY_UPSTREAM_CA_FILE": str(missing)})
    assert "is not a file" in str(raised.value)
    assert "CONSENT_GATEWAY_UPSTREAM_CA_FILE" in str(raised.value)


def test_check_validates_the_upstream(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.toml"
    good.write_text('upstream = "http://app:8080"\n')
    assert main(["check", str(good)]) == 0
    bad = tmp_path / "bad.toml"
    bad.write_text('upstream = "http://app:8080/path"\n')
    assert main(["check", str(bad)]) == 2
    assert "names a host and a port only" in capsys.readouterr().err
