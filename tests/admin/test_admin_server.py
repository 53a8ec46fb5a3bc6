"""The admin page through a real uvicorn server: closed without a token, 401 without the
right one, a login that sets a strict cookie, forms only from this site, failed attempts
limited, and a classification that changes the next response."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from tests.support.admin_site import ADMIN_TOKEN, OTHER_TOKEN, UNKNOWN, AdminSite, admin_site

pytestmark = pytest.mark.slow
BEARER = {"authorization": f"Bearer {ADMIN_TOKEN}"}


def same_origin(site: AdminSite) -> dict[str, str]:
    return {"origin": site.url}


def login(client: httpx.Client, site: AdminSite, token: str = ADMIN_TOKEN) -> httpx.Response:
    return client.post(site.admin + "/login", data={"token": token}, headers=same_origin(site))


def form_token(page: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert found, "the page has no form token"
    return found.group(1)


def test_without_a_token_every_admin_path_is_the_apis_404(tmp_path: Path) -> None:
    with admin_site(tmp_path, admin_token=[]) as site, httpx.Client() as client:
        unknown = client.get(site.url + "/_consent/no-such-thing")
        for path in ("", "/", "/login", "/static/admin.css", "/classify", "/erase"):
            for method in ("GET", "POST"):
                answer = client.request(method, site.admin + path, headers=BEARER)
                assert answer.status_code == 404 == unknown.status_code
                assert answer.headers["content-type"] == unknown.headers["content-type"]
                assert answer.json() == {
                    "error": f"no such consent endpoint: /_consent/admin{path}"
                }
                assert "www-authenticate" not in answer.headers


def test_a_missing_or_wrong_token_is_a_401_that_asks_for_a_bearer_token(tmp_path: Path) -> None:
    with admin_site(tmp_path) as site, httpx.Client() as client:
        missing = client.get(site.admin)
        assert missing.status_code == 401
        assert missing.headers["www-authenticate"].startswith("Bearer")
        assert 'name="token"' in missing.text  # a browser gets the login form
        for wrong in (ADMIN_TOKEN[:-1], ADMIN_TOKEN + "x", "x", "Basic " + ADMIN_TOKEN):
            answer = client.get(site.admin, headers={"authorization": f"Bearer {wrong}"})
            assert answer.status_code == 401
            assert answer.headers["www-authenticate"].startswith("Bearer")
        # Another scheme (a proxy's Basic password in front) leaves the session to decide.
        basic = client.get(site.admin, headers={"authorization": "Basic dXNlcjpwYXNz"})
        assert basic.status_code == 401 and 'name="token"' in basic.text
        login(client, site)
        signed_in = client.get(site.admin, headers={"authorization": "Basic dXNlcjpwYXNz"})
        assert signed_in.status_code == 200
        for token in (ADMIN_TOKEN, OTHER_TOKEN):
            right = client.get(site.admin, headers={"authorization": f"Bearer {token}"})
            assert right.status_code == 200
            assert "How visitors choose" in right.text


def test_the_page_is_served_with_a_strict_policy(tmp_path: Path) -> None:
    with admin_site(tmp_path) as site, httpx.Client() as client:
        page = client.get(site.admin, headers=BEARER)
        policy = page.headers["content-security-policy"]
        assert "unsafe-inline" not in policy and "script-src" not in policy
        assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
        assert page.headers["cache-control"] == "no-store"
        assert "<script" not in page.text and " style=" not in page.text
        css = client.get(site.admin + "/static/admin.css")
        assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")


def test_login_sets_a_strict_session_cookie_scoped_to_the_admin_page(tmp_path: Path) -> None:
    with admin_site(tmp_path) as site, httpx.Client() as client:
        answer = login(client, site)
        assert answer.status_code == 303 and answer.headers["location"] == "/_consent/admin"
        cookie = answer.headers["set-cookie"]
        assert cookie.startswith("cg_admin=")
        for flag in ("HttpOnly", "Path=/_consent/admin", "SameSite=strict", "Max-Age=28800"):
            assert flag in cookie
        assert "Secure" not in cookie  # plain HTTP here; HTTPS adds it
        assert ADMIN_TOKEN not in cookie
        page = client.get(site.admin)
        assert page.status_code == 200 and "Sign out" in page.text
        page = client.get(site.admin)  # the first page wrote the cookie names it was sent
        assert "<code>cg_admin</code>" not in page.text  # the gateway's own: not unknown
        out = client.post(
            site.admin + "/logout", data={"csrf": form_token(page.text)}, headers=same_origin(site)
        )
        assert out.status_code == 303
        assert client.get(site.admin).status_code == 401


def test_a_tampered_or_foreign_session_cookie_opens_nothing(tmp_path: Path) -> None:
    with admin_site(tmp_path) as site, httpx.Client() as client:
        value = login(client, site).cookies["cg_admin"]
        for forged in (value[:-2] + "xx", "0" * 32 + value[32:], "nonsense"):
            answer = httpx.get(site.admin, cookies={"cg_admin": forged})
            assert answer.status_code == 401
    # The same cookie under a gateway whose token list no longer holds its token.
    with admin_site(tmp_path, admin_token=[OTHER_TOKEN]) as site:
        assert httpx.get(site.admin, cookies={"cg_admin": value}).status_code == 401


def test_forms_from_another_site_are_refused(tmp_path: Path) -> None:
    with admin_site(tmp_path) as site, httpx.Client() as client:
        cross = {"origin": "https://evil.example"}
        answer = client.post(site.admin + "/login", data={"token": ADMIN_TOKEN}, headers=cross)
        assert answer.status_code == 403 and "set-cookie" not in answer.headers
        fetch = {"sec-fetch-site": "cross-site"}
        assert (
            client.post(
                site.admin + "/login", data={"token": ADMIN_TOKEN}, headers=fetch
            ).status_code
            == 403
        )
        login(client, site)
        page = client.get(site.admin)
        data = {"name": UNKNOWN, "category": "marketing", "csrf": form_token(page.text)}
        assert client.post(site.admin + "/classify", data=data, headers=cross).status_code == 403
        without = {"name": UNKNOWN, "category": "marketing"}
        refused = client.post(site.admin + "/classify", data=without, headers=same_origin(site))
        assert refused.status_code == 403  # the cookie alone is not enough: the form token
        assert not site.rules_file.exists()


def test_failed_attempts_are_limited_per_network(tmp_path: Path) -> None:
    with admin_site(tmp_path) as site, httpx.Client() as client:
        for _ in range(10):
            assert login(client, site, "wrong-token-0123456789abcdef").status_code == 401
        limited = login(client, site)
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) > 0
        assert client.get(site.admin, headers=BEARER).status_code == 429
        assert "set-cookie" not in limited.headers


def test_bad_classifications_are_refused_clearly(tmp_path: Path) -> None:
    with admin_site(tmp_path) as site, httpx.Client(headers=BEARER) as client:
        for name, category in (
            ("a=b", "marketing"),
            ("a;b", "marketing"),
            ("ok", "tracking"),
            ("", "analytics"),
        ):
            answer = client.post(
                site.admin + "/classify", data={"name": name, "category": category}
            )
            assert answer.status_code == 400
        assert not site.rules_file.exists()


def test_classifying_an_unknown_cookie_changes_the_next_response(
    database_url: str, tmp_path: Path
) -> None:
    rules = tmp_path / "rules" / "classified.toml"
    with (
        admin_site(tmp_path, database_url=database_url, classified_rules_file=str(rules)) as site,
        httpx.Client() as visitor,
    ):
        assert site.rules_file == rules
        refused = visitor.post(
            site.url + "/_consent/state", json={"all": False}, headers=same_origin(site)
        )
        assert refused.status_code == 200
        first = visitor.get(site.url + "/")
        assert UNKNOWN in first.cookies  # unknown_cookies = "allow": it passes as essential
        with httpx.Client(headers=BEARER) as admin:
            page = admin.get(site.admin)
            assert f"<code>{UNKNOWN}</code>" in page.text
            done = admin.post(
                site.admin + "/classify", data={"name": UNKNOWN, "category": "marketing"}
            )
            assert done.status_code == 303
            assert "classified: marketing" in admin.get(site.admin).text
        assert 'category = "marketing"' in site.rules_file.read_text()
        visitor.cookies.clear()
        visitor.post(site.url + "/_consent/state", json={"all": False}, headers=same_origin(site))
        second = visitor.get(site.url + "/")
        assert UNKNOWN not in second.cookies
        assert "sessionid" in second.cookies
        visitor.post(site.url + "/_consent/state", json={"all": True}, headers=same_origin(site))
        assert UNKNOWN in visitor.get(site.url + "/").cookies


def test_the_charts_count_decisions_and_visits_without_a_choice(
    database_url: str, tmp_path: Path
) -> None:
    with admin_site(tmp_path, database_url=database_url) as site:
        for country, body, views in (
            ("DE", {"all": True}, 1),
            ("DE", {"all": False}, 1),
            ("FR", {"categories": {"analytics": True}}, 1),
            ("FR", None, 2),  # two visits shown the banner, no choice
        ):
            with httpx.Client(headers={"x-country": country}) as visitor:
                for _ in range(views):
                    assert "/_consent/banner." in visitor.get(site.url + "/").text
                visitor.get(site.url + "/other", headers={"sec-fetch-site": "same-origin"})
                if body is not None:
                    visitor.post(site.url + "/_consent/state", json=body, headers=same_origin(site))
        httpx.get(site.url + "/", headers={"sec-fetch-dest": "empty"})  # a fetch: no banner
        page = httpx.get(site.admin, headers=BEARER).text
    for chart in ("by-day", "by-regime", "by-country", "by-version"):
        assert f'id="{chart}"' in page
    numbers = page[page.index('id="by-country"') :]
    numbers = numbers[numbers.index("<table") : numbers.index("</table>")]
    assert re.search(r'<th scope="row">DE</th><td class="n">1 \(50%\)</td><td class="n">0', numbers)
    fr = re.search(r'<th scope="row">FR</th>(.*?)</tr>', numbers)
    assert fr is not None
    assert re.findall(r">(\d+) \(", fr.group(1)) == ["0", "1", "0", "2"]
    assert "<code>not_document</code>" in page


def test_records_of_one_consent_id_download_and_erase(database_url: str, tmp_path: Path) -> None:
    """A request received by e-mail: the operator finds the id, downloads its records and
    erases them; another visitor's records stay."""
    with (
        admin_site(tmp_path, database_url=database_url) as site,
        httpx.Client() as quoted,
        httpx.Client() as other,
        httpx.Client(headers=BEARER) as admin,
    ):
        for visitor, choices in (
            (quoted, ({"all": True}, {"all": False})),
            (other, ({"all": True},)),
        ):
            for body in choices:
                visitor.post(site.url + "/_consent/state", json=body, headers=same_origin(site))
        mine = quoted.get(site.url + "/_consent/records", headers=same_origin(site)).json()
        consent_id = mine["consent_id"]
        assert consent_id and len(mine["records"]) == 2

        page = admin.get(site.admin, params={"consent_id": consent_id}).text
        assert page.count("<td>accept_all</td>") == 1 and "<td>reject_all</td>" in page
        assert f"/records.json?consent_id={consent_id}" in page
        assert (
            httpx.get(site.admin + "/records.json", params={"consent_id": consent_id}).status_code
            == 401
        )
        download = admin.get(site.admin + "/records.json", params={"consent_id": consent_id})
        assert download.status_code == 200 and download.headers["cache-control"] == "no-store"
        assert download.json() == mine

        erase = {"consent_id": consent_id, "confirm": "yes"}
        unconfirmed = admin.post(site.admin + "/erase", data={"consent_id": consent_id})
        assert unconfirmed.status_code == 400
        cross = admin.post(
            site.admin + "/erase", data=erase, headers={"origin": "https://evil.test"}
        )
        assert cross.status_code == 403
        assert (
            len(
                quoted.get(site.url + "/_consent/records", headers=same_origin(site)).json()[
                    "records"
                ]
            )
            == 2
        )

        done = admin.post(site.admin + "/erase", data=erase)
        assert done.status_code == 200 and "2 from consent_records" in done.text
        assert (
            quoted.get(site.url + "/_consent/records", headers=same_origin(site)).json()["records"]
            == []
        )
        assert (
            len(
                other.get(site.url + "/_consent/records", headers=same_origin(site)).json()[
                    "records"
                ]
            )
            == 1
        )
        assert (
            "No records of this consent id."
            in admin.get(site.admin, params={"consent_id": consent_id}).text
        )
        assert admin.get(site.admin + "/records.json").status_code == 400
