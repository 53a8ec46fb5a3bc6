"""The examples in examples/ and in the README run and do what they say."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import httpx
import pytest

from tests.support.servers import running

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


def readme_middleware_example() -> str:
    """The first Python block of the README's "ASGI middleware" section, as users copy it
    (docs/getting-started.md shows the same block: it includes this part of the README)."""
    readme = (EXAMPLES.parent / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### ASGI middleware") :]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


@pytest.mark.slow
@pytest.mark.parametrize("header", ["CF-IPCountry", "CloudFront-Viewer-Country"])
def test_the_readme_middleware_example_does_not_trust_a_client_country_header(
    header: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the default database is a SQLite file there
    namespace: dict[str, object] = {}
    exec(compile(readme_middleware_example(), "README.md", "exec"), namespace)
    with running(namespace["app"]) as url, httpx.Client(base_url=url) as client:
        # No CDN in front: a visitor claims to be in the US, where opt-out would allow all.
        answer = client.get("/", headers={header: "US"})
    assert answer.json() == {"analytics": False}
