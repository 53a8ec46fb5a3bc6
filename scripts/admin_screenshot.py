"""Take the admin page's screenshot for the docs (docs/images/admin.png).

    python scripts/admin_screenshot.py [--out docs/images/admin.png]

Serves a gateway with the admin page on (real uvicorn on loopback) over a SQLite store seeded
with two weeks of decisions, visits, skipped pages, unknown cookies and an outbox backlog,
signs in with real Chromium (/usr/bin/chromium) and saves the whole page. The numbers are
made up; the page, the charts and the layout are what the gateway serves.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import uvicorn
from playwright.sync_api import sync_playwright
from starlette.applications import Starlette

from gateway import ConsentMiddleware, Settings
from gateway.store import ConsentRecord, OutboxHit
from gateway.store.sqlite import SQLiteStore

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "screenshot-admin-token-0123456789"  # noqa: S105 - a local, throwaway server
COUNTRIES = {"DE": "opt-in", "FR": "opt-in", "GB": "opt-in", "US": "opt-out", "BR": "notice"}
ALL = {"preferences": True, "analytics": True, "marketing": True}
NONE = {"preferences": False, "analytics": False, "marketing": False}
SOME = {"preferences": True, "analytics": True, "marketing": False}


def seed(path: Path) -> None:
    rng = random.Random(18)  # noqa: S311 - made-up figures, the same each run
    store = SQLiteStore(str(path))
    today = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    for back in range(14):
        day = today - timedelta(days=back)
        shown: dict[tuple[str, str], int] = {}
        for country, regime in COUNTRIES.items():
            visits = rng.randint(20, 60)
            version = "2026-11" if back < 9 else "2026-10"
            shown[("shown", f"{regime}/{country}/{version}")] = visits
            for _ in range(int(visits * rng.uniform(0.6, 0.9))):
                categories = rng.choices([ALL, NONE, SOME], weights=[5, 3, 1])[0]
                store.record_consent(
                    ConsentRecord(
                        consent_id=f"{rng.getrandbits(128):032x}"[:22],
                        decided_at=day + timedelta(minutes=rng.randint(-600, 600)),
                        policy_version=version,
                        categories={"essential": True, **categories},
                        regime=regime,
                        source="user",
                        action="grant",
                        country=country,
                        subdivision=None,
                        user_agent="Firefox 133 / Linux / desktop",
                    )
                )
        shown[("skipped", "not_document")] = rng.randint(100, 200)
        shown[("skipped", "bot")] = rng.randint(20, 60)
        shown[("skipped", "csp")] = rng.randint(0, 3)
        store.add_daily_counts(day.date().isoformat(), shown)
    store.count_unknown_cookies({"promo_ref": 412, "ab_variant": 96, "chat_open": 7}, today)
    store.outbox_add([OutboxHit(f"hit-{n}", "plausible", b"{}", time.time()) for n in range(37)])
    store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images" / "admin.png")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        database = Path(folder) / "consent.db"
        seed(database)
        settings = Settings.load(
            environ={},
            secret="screenshot-secret-0123456789",  # noqa: S106 - a throwaway server
            database_url=f"sqlite:///{database}",
            admin_token=TOKEN,
            analytics={"plausible": {"site_ids": ["shop.example"]}, "forwarder": "separate"},
        )
        app = ConsentMiddleware(Starlette(), settings)
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="error"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path="/usr/bin/chromium",
                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
                )
                page = browser.new_page(viewport={"width": 1100, "height": 900})
                page.goto(f"http://127.0.0.1:{port}/_consent/admin")
                page.get_by_label("Admin token").fill(TOKEN)
                page.get_by_role("button", name="Sign in").click()
                page.get_by_role("heading", name="How visitors choose").wait_for()
                page.goto(f"http://127.0.0.1:{port}/_consent/admin?days=30")
                page.screenshot(path=args.out, full_page=True)
                browser.close()
        finally:
            server.should_exit = True
            thread.join(10)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
