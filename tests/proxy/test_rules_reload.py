"""Rules read again by a running ``consent-gateway serve --workers 2``, in every worker: a
site rules file changed on disk (the watcher), SIGHUP, and a broken file that leaves the
previous rules in place. No timing is asserted: each wait polls with a generous deadline."""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.support.upstreams import RawUpstream, serving

pytestmark = pytest.mark.slow  # the gateway in processes of its own

DEADLINE = 60.0  # seconds: generous; the watcher looks every 0.2 s here
WORKERS = 2


def _rules(category: str) -> str:
    return (
        "[[vendor]]\nname = 'Shop'\ncookies = [\n"
        f"  {{ name = 'promo_id', category = '{category}', purpose = 'Promotions shown.', "
        "retention = '30 days' },\n]\n"
    )


def _write(path: Path, text: str) -> None:
    """Replace ``path`` whole, as a deployment does: a look never sees it half written."""
    new = path.with_suffix(".new")
    new.write_text(text)
    os.replace(new, path)


def _children(pid: int) -> set[int]:
    """The worker processes of the supervisor ``pid``."""
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return {
        int(child)
        for child in text.split()
        if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes()
    }


def _log(tmp_path: Path) -> str:
    return "".join(path.read_text() for path in tmp_path.glob("serve-*.log"))


def _processes_logging(tmp_path: Path, what: str, reason: str = "") -> set[int]:
    """The processes that logged ``what`` ("rules reloaded") for ``reason``."""
    pattern = re.escape(what) + r" in process (\d+) \(" + re.escape(reason)
    return {int(pid) for pid in re.findall(pattern, _log(tmp_path))}


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def _passes_promo(url: str, consent: httpx.Cookies) -> bool:
    """Whether the site's ``promo_id`` cookie reaches this visitor, on a connection of its
    own (so that the workers take turns accepting)."""
    response = httpx.get(url + "/promo", cookies=consent)
    assert response.status_code == 200
    return "promo_id" in response.headers.get("set-cookie", "")


def _every_request(url: str, consent: httpx.Cookies, passes: bool) -> bool:
    """Twenty requests, each on a new connection, all as ``passes`` says."""
    return all(_passes_promo(url, consent) is passes for _ in range(20))


@contextmanager
def _gateway(tmp_path: Path, interval: str) -> Iterator[tuple[str, int, Path, httpx.Cookies]]:
    """``serve --workers 2`` with a site rules file calling ``promo_id`` analytics, and a
    visitor who granted analytics and refused marketing."""
    rules = tmp_path / "site-rules.toml"
    rules.write_text(_rules("analytics"))
    config = tmp_path / "gateway.toml"
    config.write_text(f"rule_files = ['{rules}']\nrules_reload_interval = {interval}\n")
    with (
        RawUpstream() as upstream,
        serving(
            tmp_path,
            f"http://127.0.0.1:{upstream.port}",
            options=["--config", str(config), "--workers", str(WORKERS)],
        ) as (url, process),
    ):
        _wait_for(lambda: len(_children(process.pid)) >= WORKERS, "the workers did not start")
        choice = httpx.post(
            url + "/_consent/state",
            json={"categories": {"preferences": True, "analytics": True}},
            headers={"origin": url},
        )
        assert choice.status_code == 200
        consent = httpx.Cookies(choice.cookies)
        assert _every_request(url, consent, passes=True)  # analytics: granted
        yield url, process.pid, rules, consent
        assert process.poll() is None, "the gateway ended"


def test_a_changed_rules_file_is_read_again_by_every_worker(tmp_path: Path) -> None:
    with _gateway(tmp_path, "0.2") as (url, pid, rules, consent):
        workers = _children(pid)
        _write(rules, _rules("marketing"))
        _wait_for(
            lambda: _processes_logging(tmp_path, "rules reloaded") >= workers,
            "not every worker reloaded the rules",
        )
        assert _every_request(url, consent, passes=False)  # marketing: refused, stripped
        assert "site-rules.toml changed" in _log(tmp_path)

        _write(rules, "[[vendor]\nname = 'Shop'\n")  # broken: the marketing rule stays
        _wait_for(
            lambda: _processes_logging(tmp_path, "rules not reloaded") >= workers,
            "not every worker reported the broken file",
        )
        assert _every_request(url, consent, passes=False)
        assert "site-rules.toml: not valid TOML" in _log(tmp_path)
        assert _children(pid) == workers  # the same workers, serving all along

        _write(rules, _rules("analytics"))  # mended: read again
        _wait_for(lambda: _every_request(url, consent, passes=True), "the mended file was not read")
    assert "Traceback" not in _log(tmp_path)


def test_sighup_reloads_every_worker_without_restarting_them(tmp_path: Path) -> None:
    with _gateway(tmp_path, "0") as (url, pid, rules, consent):  # no watching
        workers = _children(pid)
        _write(rules, _rules("marketing"))
        assert _every_request(url, consent, passes=True)  # nothing looks at the file
        assert not _processes_logging(tmp_path, "rules reloaded")
        os.kill(pid, signal.SIGHUP)
        _wait_for(
            lambda: _processes_logging(tmp_path, "rules reloaded", "SIGHUP") >= workers,
            "not every worker reloaded on SIGHUP",
        )
        assert _every_request(url, consent, passes=False)
        assert _children(pid) == workers  # reloaded, not restarted (uvicorn's own SIGHUP)
