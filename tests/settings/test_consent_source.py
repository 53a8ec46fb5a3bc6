"""``consent_source`` accepts the gateway or adapters that exist, and each adapter table
must belong to one in use: no setting silently does nothing."""

from __future__ import annotations

import pytest

from gateway.consent.adapters import ADAPTERS
from gateway.settings import Settings, SettingsError
from tests.support.apps import SECRET


def load(**values: object) -> Settings:
    return Settings.load(environ={}, secret=SECRET, **values)


def test_gateway_by_default_with_the_banner() -> None:
    settings = load()
    assert settings.consent_source == "gateway"
    assert settings.banner_inserted is True


def test_an_adapter_turns_the_banner_off_unless_asked() -> None:
    assert load(consent_source=["cookiebot"]).banner_inserted is False
    assert load(consent_source=["cookiebot"], inject_banner=False).banner_inserted is False
    with pytest.raises(SettingsError, match="inject_banner"):
        load(consent_source=["cookiebot"], inject_banner=True)  # a cookie no adapter reads
    assert load(inject_banner=False).banner_inserted is False


def test_from_the_environment_names_separated_by_commas() -> None:
    environ = {"CONSENT_GATEWAY_CONSENT_SOURCE": "cookiebot, onetrust"}
    settings = Settings.load(environ=environ, secret=SECRET)
    assert settings.consent_source == ["cookiebot", "onetrust"]
    json_list = {"CONSENT_GATEWAY_CONSENT_SOURCE": '["klaro"]'}
    assert Settings.load(environ=json_list, secret=SECRET).consent_source == ["klaro"]
    gateway = {"CONSENT_GATEWAY_CONSENT_SOURCE": "gateway"}
    assert Settings.load(environ=gateway, secret=SECRET).consent_source == "gateway"


@pytest.mark.parametrize("name", sorted(ADAPTERS))
def test_every_adapter_is_accepted(name: str) -> None:
    assert load(consent_source=[name]).consent_source == [name]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (["usercentric"], "unknown adapter 'usercentric'"),
        ([], "name at least one adapter"),
        (["klaro", "klaro"], "named twice"),
        ("gateway,klaro", "unknown adapter 'gateway'"),
    ],
)
def test_unknown_or_repeated_adapters_are_refused(value: object, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load(consent_source=value)


def test_an_adapter_table_needs_its_adapter_in_use() -> None:
    with pytest.raises(SettingsError, match=r"\[consent_adapters.klaro\] does nothing"):
        load(consent_source=["cookiebot"], consent_adapters={"klaro": {}})
    settings = load(
        consent_source=["klaro"],
        consent_adapters={"klaro": {"categories": {"hotjar": "analytics"}}},
    )
    assert settings.consent_adapters["klaro"].categories == {"hotjar": "analytics"}


def test_an_adapter_table_refuses_unknown_keys_categories_and_cookie_names() -> None:
    for table in (
        {"groups": {}},
        {"categories": {"C0002": "statistics"}},
        {"cookie": "bad name;"},
    ):
        with pytest.raises(SettingsError, match="consent_adapters"):
            load(consent_source=["onetrust"], consent_adapters={"onetrust": table})


@pytest.mark.parametrize("name", ["tcf", "gpp"])
def test_the_iab_sources_take_a_cookie_name_but_no_categories(name: str) -> None:
    """Their mapping is a rules file (rules/tcf.toml, rules/gpp.toml): a `categories` table
    would silently do nothing."""
    chosen = load(consent_source=[name], consent_adapters={name: {"cookie": "my_string"}})
    assert chosen.consent_adapters[name].cookie == "my_string"
    with pytest.raises(SettingsError, match=f"rules/{name}.toml"):
        load(consent_source=[name], consent_adapters={name: {"categories": {"7": "analytics"}}})


def test_didomi_takes_its_token_cookie_the_tc_string_cookie_and_purposes() -> None:
    """Didomi can rename both of its cookies (https://developers.didomi.io/cmp/web-sdk/
    consent-notice/cookies); its purposes are the site's to map."""
    table = {"cookie": "dt", "tc_cookie": "tc", "categories": {"newsletter": "preferences"}}
    chosen = load(consent_source=["didomi"], consent_adapters={"didomi": table})
    assert chosen.consent_adapters["didomi"].tc_cookie == "tc"
    with pytest.raises(SettingsError, match="consent_adapters"):
        load(consent_source=["didomi"], consent_adapters={"didomi": {"tc_cookie": "a;b"}})


@pytest.mark.parametrize("name", ["cookiebot", "tcf"])
def test_only_didomi_takes_a_tc_cookie(name: str) -> None:
    """Other adapters read no TC string beside their cookie: ``tc_cookie`` would do nothing."""
    with pytest.raises(SettingsError, match=rf"\[consent_adapters.{name}\] tc_cookie does nothing"):
        load(consent_source=[name], consent_adapters={name: {"tc_cookie": "tc"}})


def test_the_tcf_purposes_table_is_the_sites_over_the_rules_file() -> None:
    """A category the site lists needs its purposes; the others keep rules/tcf.toml's."""
    purposes = {"analytics": [1, 8], "marketing": [1, 2, 3, 4]}
    chosen = load(consent_source=["tcf"], consent_adapters={"tcf": {"purposes": purposes}})
    assert chosen.consent_adapters["tcf"].purposes == {
        "analytics": {1, 8},
        "marketing": {1, 2, 3, 4},
    }
    environ = {
        "CONSENT_GATEWAY_CONSENT_SOURCE": "tcf",
        "CONSENT_GATEWAY_CONSENT_ADAPTERS": '{"tcf": {"purposes": {"analytics": [1, 8]}}}',
    }
    from_environment = Settings.load(environ=environ, secret=SECRET)
    assert from_environment.consent_adapters["tcf"].purposes == {"analytics": {1, 8}}


@pytest.mark.parametrize(
    ("purposes", "message"),
    [
        ({"statistics": [1]}, "'statistics' is not one of"),
        ({"essential": [1]}, "'essential' is not one of"),
        ({"analytics": []}, "analytics must list TCF purpose ids from 1 to 24"),
        ({"analytics": [0, 1]}, "analytics must list TCF purpose ids from 1 to 24"),
        ({"marketing": [1, 25]}, "marketing must list TCF purpose ids from 1 to 24"),
        ({"analytics": ["1"]}, "analytics must list TCF purpose ids"),  # not turned into 1
        ({"analytics": [True]}, "analytics must list TCF purpose ids"),
        ({"analytics": 8}, "analytics must list TCF purpose ids"),
    ],
)
def test_a_wrong_tcf_purposes_table_is_refused_naming_the_setting(
    purposes: object, message: str
) -> None:
    with pytest.raises(SettingsError, match=message) as error:
        load(consent_source=["tcf"], consent_adapters={"tcf": {"purposes": purposes}})
    assert "consent_adapters.tcf.purposes" in str(error.value)


def test_purposes_belong_to_tcf_alone() -> None:
    for name in ("gpp", "onetrust"):
        with pytest.raises(SettingsError, match=rf"\[consent_adapters.{name}\] purposes do"):
            load(consent_source=[name], consent_adapters={name: {"purposes": {"analytics": [1]}}})


def test_didomi_takes_tcf_purposes_for_the_tc_string_it_reads() -> None:
    chosen = load(
        consent_source=["didomi"], consent_adapters={"didomi": {"purposes": {"analytics": [1, 8]}}}
    )
    assert chosen.consent_adapters["didomi"].purposes == {"analytics": {1, 8}}


def test_the_gpp_opt_outs_table_is_the_sites_over_the_rules_file() -> None:
    chosen = load(
        consent_source=["gpp"],
        consent_adapters={"gpp": {"refused_by": {"analytics": ["sale", "sharing"]}}},
    )
    assert chosen.consent_adapters["gpp"].refused_by == {"analytics": {"sale", "sharing"}}


@pytest.mark.parametrize(
    ("refused_by", "message"),
    [
        ({"statistics": ["sale"]}, "'statistics' is not an optional category"),
        ({"essential": ["sale"]}, "'essential' is not an optional category"),
        ({"analytics": ["selling"]}, "analytics must list some of sale, sharing"),
        ({"analytics": "sale"}, "analytics must list some of"),
    ],
)
def test_a_wrong_gpp_table_is_refused_naming_the_setting(refused_by: object, message: str) -> None:
    with pytest.raises(SettingsError, match=message) as error:
        load(consent_source=["gpp"], consent_adapters={"gpp": {"refused_by": refused_by}})
    assert "refused_by" in str(error.value)


def test_refused_by_belongs_to_gpp_alone() -> None:
    with pytest.raises(SettingsError, match=r"\[consent_adapters.tcf\] refused_by does nothing"):
        load(consent_source=["tcf"], consent_adapters={"tcf": {"refused_by": {"analytics": []}}})
