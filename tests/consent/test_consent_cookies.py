"""Several consent cookies in one request, and the ``__Host-`` prefix: a cookie planted by
another subdomain can only narrow the visitor's choice, and with ``cookie_host_prefix`` the
gateway's own cookie is one no other subdomain or path can set. Through real servers,
HTTPS included."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import trustme

from gateway import ConsentMiddleware, Settings, SettingsError
from tests.support.apps import SECRET
from tests.support.servers import running

pytestmark = pytest.mark.slow  # every test runs a real server

Gateway = Callable[..., ConsentMiddleware]
NOTHING_OPTIONAL = {"essential": True, "preferences": False, "analytics": False, "marketing": False}


def saved(client: httpx.Client, choice: dict[str, object], **headers: str) -> httpx.Response:
    """A choice posted the way the banner posts it, from a browser holding no cookies."""
    client.cookies.clear()
    origin = f"{client.base_url.scheme}://{headers.get('host', client.base_url.netloc.decode())}"
    response = client.post("/_consent/state", json=choice, headers={"origin": origin, **headers})
    assert response.status_code == 200, response.text
    client.cookies.clear()
    return response


def set_lines(response: httpx.Response) -> list[str]:
    """The Set-Cookie lines that set a cookie (not those expiring one)."""
    return [line for line in response.headers.get_list("set-cookie") if "Max-Age=0" not in line]


def consent_value(response: httpx.Response) -> str:
    (line,) = [line for line in set_lines(response) if line.startswith("cg_consent=")]
    return line.split(";")[0].split("=", 1)[1]


def test_a_planted_accept_all_beside_a_refusal_yields_the_refusal(make_gateway: Gateway) -> None:
    with running(make_gateway()) as url, httpx.Client(base_url=url) as client:
        refusal = consent_value(saved(client, {"all": False}))
        accept_all = consent_value(saved(client, {"all": True}))
        analytics = consent_value(saved(client, {"categories": {"analytics": True}}))
        marketing = consent_value(saved(client, {"categories": {"marketing": True}}))
        for values in ([accept_all, refusal], [refusal, accept_all], [analytics, marketing]):
            cookie = "; ".join(f"cg_consent={value}" for value in values)
            cookie += "; sessionid=s3ss10n; _ga=GA1.1.1.1; _fbp=fb.1.1.1"
            state = client.get("/_consent/state", headers={"cookie": cookie}).json()
            assert state["decided"] is True
            assert state["categories"] == NOTHING_OPTIONAL
            page = client.get("/", headers={"cookie": cookie})
            assert page.json()["received"] == ["cg_consent", "sessionid"]
            assert [line.split("=")[0] for line in set_lines(page)] == ["sessionid"]


def test_a_save_expires_the_consent_cookies_sent_beside_it(make_gateway: Gateway) -> None:
    with running(make_gateway()) as url, httpx.Client(base_url=url) as client:
        refusal = consent_value(saved(client, {"all": False}))
        planted = consent_value(saved(client, {"all": False}))
        host = {"host": "www.shop.example"}
        cookie = f"cg_consent={planted}; cg_consent={refusal}"
        response = saved(client, {"all": True}, cookie=cookie, **host)
        lines = response.headers.get_list("set-cookie")
        new = next(
            i
            for i, line in enumerate(lines)
            if line.startswith("cg_consent=") and "Max-Age=0" not in line
        )
        expired = [i for i, line in enumerate(lines) if line.startswith("cg_consent=;")]
        assert expired and max(expired) < new  # the browser applies them in order
        assert any("Domain=shop.example" in lines[i] for i in expired)
        # A single consent cookie is simply replaced.
        one = saved(client, {"all": True}, cookie=f"cg_consent={refusal}", **host)
        assert one.headers.get_list("set-cookie") == set_lines(one)


@pytest.fixture
def tls(tmp_path: Path) -> tuple[dict[str, str], ssl.SSLContext]:
    """uvicorn's HTTPS options with a certificate for 127.0.0.1, and a client context
    trusting it."""
    authority = trustme.CA()
    pem = tmp_path / "server.pem"
    authority.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(str(pem))
    trusting = ssl.create_default_context()
    authority.configure_trust(trusting)
    return {"ssl_certfile": str(pem)}, trusting


def test_with_the_host_prefix_over_https_the_cookie_is_host_only_and_secure(
    make_gateway: Gateway, tls: tuple[dict[str, str], ssl.SSLContext]
) -> None:
    options, trusting = tls
    gateway = make_gateway(cookie_host_prefix=True)
    with running(gateway, **options) as url, httpx.Client(base_url=url, verify=trusting) as client:
        assert url.startswith("https://")
        response = saved(client, {"all": False})
        (line,) = [line for line in response.headers.get_list("set-cookie") if "consent" in line]
        name, _, rest = line.partition("=")
        attributes = [part.strip().lower() for part in rest.split(";")[1:]]
        assert name == "__Host-cg_consent"
        assert "secure" in attributes and "path=/" in attributes
        assert not [part for part in attributes if part.startswith("domain")]
        value = rest.split(";")[0]
        state = client.get("/_consent/state", headers={"cookie": f"{name}={value}"}).json()
        assert state["decided"] is True and state["categories"] == NOTHING_OPTIONAL
        # Turning the prefix on: the cookie of the plain name goes when the visitor next
        # chooses, before the prefixed one is set (it would narrow the new choice).
        old = f"cg_consent={value}"
        switched = saved(client, {"all": True}, cookie=old).headers.get_list("set-cookie")
        assert switched[0].startswith("cg_consent=;") and "Max-Age=0" in switched[0]
        assert [line for line in switched if line.startswith("__Host-cg_consent=")]


def test_with_the_host_prefix_over_plain_http_the_plain_name_is_used(
    make_gateway: Gateway,
) -> None:
    # Local development: browsers refuse a __Host- cookie (always Secure) over http://.
    with running(make_gateway(cookie_host_prefix=True)) as url, httpx.Client(base_url=url) as c:
        (line,) = set_lines(saved(c, {"all": True}))
        assert line.startswith("cg_consent=") and "Secure" not in line
    # Both names are read whatever the setting: a browser keeps one after it changes.
    with running(make_gateway()) as url, httpx.Client(base_url=url) as client:
        value = consent_value(saved(client, {"all": True}))
        cookie = {"cookie": f"__Host-cg_consent={value}"}
        assert client.get("/_consent/state", headers=cookie).json()["decided"] is True


def test_the_host_prefix_refuses_a_cookie_domain() -> None:
    with pytest.raises(SettingsError, match="__Host-"):
        Settings.load(
            environ={}, secret=SECRET, cookie_host_prefix=True, cookie_domain="shop.example"
        )
