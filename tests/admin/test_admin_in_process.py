"""The admin page called in process (no server): what depends on the scheme, and answers
that need no running site."""

from __future__ import annotations

from pathlib import Path

import httpx

from gateway import ConsentMiddleware, Settings
from tests.support.admin_site import ADMIN_TOKEN, site_app
from tests.support.apps import SECRET


def gateway(tmp_path: Path) -> ConsentMiddleware:
    settings = Settings.load(
        environ={},
        secret=SECRET,
        database_url=f"sqlite:///{tmp_path / 'consent.db'}",
        admin_token=ADMIN_TOKEN,
    )
    return ConsentMiddleware(site_app(), settings)


async def test_over_https_the_session_cookie_is_secure(tmp_path: Path) -> None:
    transport = httpx.ASGITransport(app=gateway(tmp_path))
    async with httpx.AsyncClient(transport=transport, base_url="https://shop.test") as client:
        answer = await client.post(
            "/_consent/admin/login",
            data={"token": ADMIN_TOKEN},
            headers={"origin": "https://shop.test"},
        )
    assert answer.status_code == 303
    assert "; Secure" in answer.headers["set-cookie"]


async def test_unknown_admin_paths_and_methods(tmp_path: Path) -> None:
    transport = httpx.ASGITransport(app=gateway(tmp_path))
    bearer = {"authorization": f"Bearer {ADMIN_TOKEN}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://shop.test") as client:
        assert (await client.get("/_consent/admin/nothing", headers=bearer)).status_code == 404
        assert (await client.delete("/_consent/admin", headers=bearer)).status_code == 405
        head = await client.head("/_consent/admin", headers=bearer)
        assert head.status_code == 200 and head.content == b""
        days = await client.get("/_consent/admin?days=9999&consent_id=%ff", headers=bearer)
        assert days.status_code == 200 and " selected>" not in days.text  # 366 days: no option
        assert "No records of this consent id." in days.text
        json_login = await client.post("/_consent/admin/login", json={"token": ADMIN_TOKEN})
        assert json_login.status_code == 415
        spoofed = await client.get("/_consent/admin?classified=promo_ref", headers=bearer)
        assert "Classified" not in spoofed.text  # only a name this page classified


async def test_a_store_that_does_not_answer_is_a_503_page(tmp_path: Path) -> None:
    app = gateway(tmp_path)
    app.gateway.store.get().close()  # every query now fails
    transport = httpx.ASGITransport(app=app)
    bearer = {"authorization": f"Bearer {ADMIN_TOKEN}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://shop.test") as client:
        answer = await client.get("/_consent/admin", headers=bearer)
    assert answer.status_code == 503
    assert "did not answer" in answer.text
