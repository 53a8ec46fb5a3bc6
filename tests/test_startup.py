"""What the gateway does when the server starts its app (ASGI lifespan), in a real uvicorn
process of its own: the objects alive once the app has started leave the garbage
collector's full passes, unless turned off."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.servers import free_port

pytestmark = pytest.mark.slow  # uvicorn in a process of its own

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("freeze", [True, False])
def test_objects_built_at_startup_leave_the_collectors_full_passes(freeze: bool) -> None:
    port = free_port()
    env = {
        **os.environ,
        "CONSENT_GATEWAY_SECRET": "startup-test-secret-0123456789",
        "CONSENT_GATEWAY_DATABASE_URL": "sqlite:///:memory:",
        "CONSENT_GATEWAY_FREEZE_STARTUP_OBJECTS": "true" if freeze else "false",
    }
    app = "tests.support.startup_app:app"
    command = [sys.executable, "-m", "uvicorn", app, "--port", str(port)]
    process = subprocess.Popen([*command, "--log-level", "warning"], cwd=ROOT, env=env)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                found = httpx.get(f"http://127.0.0.1:{port}/walked", timeout=1).json()
                break
            except httpx.HTTPError:
                assert process.poll() is None, "uvicorn exited"
                assert time.monotonic() < deadline, "uvicorn did not start"
                time.sleep(0.05)
    finally:
        process.terminate()
        process.wait(10)
    # The structure the app's own startup built is frozen with the rest, or walked as before.
    assert found["walked"] is not freeze
    assert (found["frozen"] > 10_000) is freeze
