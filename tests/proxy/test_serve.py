"""``consent-gateway serve`` as an operator starts it: worker processes, each building its
own gateway from the same settings, and the settings file's upstream."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.support.upstreams import RawUpstream, serve

pytestmark = pytest.mark.slow  # the gateway in a process of its own, real upstreams


def _children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(child) for child in text.split()]


def test_workers_serve_from_the_same_settings(tmp_path: Path) -> None:
    with RawUpstream() as upstream:
        config = tmp_path / "gateway.toml"
        config.write_text(f'upstream = "http://127.0.0.1:{upstream.port}"\n')
        options = ["--config", str(config), "--workers", "2"]
        with serve(tmp_path, options=options) as (url, pid):
            for _ in range(8):
                assert httpx.get(url + "/ok").text == "ok"
            workers = [
                child
                for child in _children(pid)
                if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes()
            ]
            assert len(workers) == 2
            banner = httpx.get(url + "/_consent/state")
            assert banner.status_code == 200
        assert len(upstream.requests) == 8
