"""Settings from arguments, files and the environment, with clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.consent.state import Category, Regime
from gateway.settings import Settings, SettingsError, locales_dir


def test_defaults_are_secure() -> None:
    settings = Settings.load(environ={})
    assert settings.default_regime is Regime.OPT_IN
    assert settings.cookie_lifetime_days == 182
    assert settings.country_header is None  # no header is trusted unless configured
    assert settings.metrics is False


def test_environment_beats_file_and_arguments_beat_environment(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text('policy_version = "file"\ncookie_lifetime_days = 30\nmetrics = true\n')
    environ = {"CONSENT_GATEWAY_POLICY_VERSION": "env", "CONSENT_GATEWAY_METRICS": "false"}
    settings = Settings.load(path, environ=environ, cookie_lifetime_days=90)
    assert settings.policy_version == "env"
    assert settings.metrics is False
    assert settings.cookie_lifetime_days == 90


def test_secret_from_environment_as_plain_value_or_json_list() -> None:
    plain = Settings.load(environ={"CONSENT_GATEWAY_SECRET": "a-plain-secret-123456"})
    assert plain.secret == ["a-plain-secret-123456"]
    listed = Settings.load(
        environ={"CONSENT_GATEWAY_SECRET": '["new-secret-0123456789", "old-secret-0123456789"]'}
    )
    assert listed.secret == ["new-secret-0123456789", "old-secret-0123456789"]


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"cookie_lifetime_days": 400}, "cookie_lifetime_days"),
        ({"secret": "short"}, "secret"),
        ({"default_regime": "sometimes"}, "default_regime"),
        ({"unknown_cookies": "tracking"}, "unknown_cookies"),
        ({"policy_version": "has space"}, "policy_version"),
        ({"allowed_origins": ["shop.example"]}, "allowed_origins"),
        ({"api_prefix": "consent"}, "api_prefix"),
        ({"no_such_key": 1}, "no_such_key"),
        ({"privacy_policy_url": "javascript:alert(1)"}, "privacy_policy_url"),
        ({"privacy_policy_url": "//evil.example/privacy"}, "privacy_policy_url"),
        ({"banner_texts": {"de": {"titel": "Hallo"}}}, "banner_texts"),
        ({"banner_texts": {"en": {"dir": "sideways"}}}, "banner_texts"),
        ({"banner_texts": {"en": {"title": ""}}}, "banner_texts"),
        ({"banner_texts": {"Deutsch": {"title": "Hallo"}}}, "banner_texts"),
        ({"default_language": "fi"}, "default_language"),
    ],
)
def test_bad_values_name_the_key(values: dict[str, object], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        Settings.load(environ={}, **values)


def test_bad_environment_value_names_the_variable() -> None:
    with pytest.raises(SettingsError, match="CONSENT_GATEWAY_COOKIE_LIFETIME_DAYS"):
        Settings.load(environ={"CONSENT_GATEWAY_COOKIE_LIFETIME_DAYS": "forever"})


def test_bad_file_is_a_clear_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("secret = [unclosed")
    with pytest.raises(SettingsError, match="not valid TOML"):
        Settings.load(broken, environ={})
    with pytest.raises(SettingsError, match="does not exist"):
        Settings.load(tmp_path / "missing.toml", environ={})


def test_unknown_cookies_accepts_a_category() -> None:
    assert Settings.load(environ={}, unknown_cookies="analytics").unknown_cookies == (
        Category.ANALYTICS
    )


def test_check_command_validates_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.toml"
    good.write_text(
        'policy_version = "7"\n[[cookies]]\nname = "theme"\ncategory = "preferences"\n'
        'retention = "1 year"\npurpose = "Theme."\n'
    )
    assert main(["check", str(good)]) == 0
    bad_rule = tmp_path / "bad.toml"
    bad_rule.write_text('[[cookies]]\nname = "theme"\ncategory = "tracking"\n')
    assert main(["check", str(bad_rule)]) == 2
    assert "tracking" in capsys.readouterr().err


def test_banner_texts_name_the_unknown_key_and_the_expected_ones() -> None:
    with pytest.raises(SettingsError, match=r"de: unknown text key\(s\) \['titel'\].*'title'"):
        Settings.load(environ={}, banner_texts={"de": {"titel": "Hallo"}})


def test_a_language_the_banner_lacks_needs_every_text() -> None:
    with pytest.raises(SettingsError, match=r"fi is not a built-in language.*missing \["):
        Settings.load(environ={}, banner_texts={"fi": {"title": "Evästeet"}})
    english = json.loads((locales_dir() / "en.json").read_text(encoding="utf-8"))
    finnish = {key: f"fi {key}" for key in english} | {"dir": "ltr"}
    settings = Settings.load(environ={}, banner_texts={"fi": finnish}, default_language="fi")
    assert settings.default_language == "fi"


def test_a_site_language_written_before_the_consent_id_texts_still_loads() -> None:
    english = json.loads((locales_dir() / "en.json").read_text(encoding="utf-8"))
    older = {key: f"fi {key}" for key in english if key not in ("record_id", "records")}
    settings = Settings.load(environ={}, banner_texts={"fi": older | {"dir": "ltr"}})
    assert "record_id" not in settings.banner_texts["fi"]


def test_banner_settings_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(
        'privacy_policy_url = "https://shop.example/privacy"\n'
        "consent_mode = true\n"
        'declared_vendors = ["YouTube"]\n'
        "[banner_texts.de]\n"
        'title = "Ihre Daten, Ihre Wahl"\n'
    )
    settings = Settings.load(path, environ={})
    assert settings.privacy_policy_url == "https://shop.example/privacy"
    assert settings.consent_mode is True
    assert settings.declared_vendors == ["YouTube"]
    assert settings.banner_texts == {"de": {"title": "Ihre Daten, Ihre Wahl"}}


def test_banner_texts_from_the_environment_as_json() -> None:
    environ = {"CONSENT_GATEWAY_BANNER_TEXTS": '{"fr": {"accept": "J\'accepte"}}'}
    assert Settings.load(environ=environ).banner_texts == {"fr": {"accept": "J'accepte"}}
