"""Several upstream URLs: requests go round robin, and one that refuses is skipped for a
while rather than tried on every request."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.support.servers import free_port
from tests.support.upstreams import RawUpstream, serve

pytestmark = pytest.mark.slow  # the gateway in a process of its own, real upstreams


def test_requests_go_round_robin(tmp_path: Path) -> None:
    with RawUpstream() as first, RawUpstream() as second:
        urls = [f"http://127.0.0.1:{first.port}", f"http://127.0.0.1:{second.port}"]
        # No kept connections: the raw server closes each after its answer.
        with serve(tmp_path, *urls, upstream_keepalive="0") as (url, _):
            for _ in range(6):
                assert httpx.get(url + "/ok").text == "ok"
        assert len(first.requests) == len(second.requests) == 3


def test_a_refused_upstream_is_skipped_for_a_while(tmp_path: Path) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    with (
        RawUpstream() as live,
        serve(tmp_path, closed, f"http://127.0.0.1:{live.port}", upstream_keepalive="0") as up,
    ):
        for _ in range(6):
            assert httpx.get(up[0] + "/ok").text == "ok"
    log = next(tmp_path.glob("serve-*.log")).read_text()
    assert log.count(f"{closed}: Connect") == 1, log
    assert len(live.requests) == 6
