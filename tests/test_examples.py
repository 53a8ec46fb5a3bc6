"""The examples in examples/ run and do what their docstrings say."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import httpx
import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


async def test_starlette_example_strips_analytics_until_accepted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the example keeps its SQLite file in the working directory
    spec = importlib.util.spec_from_file_location("starlette_app", EXAMPLES / "starlette_app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    transport = httpx.ASGITransport(app=module.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        before = await client.get("/")
        assert before.json()["analytics_allowed"] is False
        assert "_ga" not in before.headers.get("set-cookie", "")
        await client.post(
            "/_consent/state", json={"all": True}, headers={"origin": "http://testserver"}
        )
        after = await client.get("/")
    assert after.json()["analytics_allowed"] is True
    assert "_ga=" in after.headers.get("set-cookie", "")
