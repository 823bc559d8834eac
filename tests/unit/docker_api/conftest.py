"""A manager in process (fake engines) serving the Docker API, and an HTTPS client with the
admin bundle, as docker's clients use it."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from agent.runtime.fake import FakeRuntime
from tests.unit.harness import Harness


def client_for(h: Harness, bundle_dir: Path) -> httpx.AsyncClient:
    context = ssl.create_default_context(cafile=str(bundle_dir / "ca.pem"))
    context.load_cert_chain(bundle_dir / "cert.pem", bundle_dir / "key.pem")
    return httpx.AsyncClient(
        base_url=f"https://127.0.0.1:{h.docker_api_port}", verify=context, timeout=30
    )


@pytest.fixture
async def dharness(tmp_path: Path) -> AsyncIterator[Harness]:
    h = Harness(tmp_path / "manager", docker_api=True)
    await h.start()
    await h.join("worker-1", FakeRuntime())
    try:
        yield h
    finally:
        await h.halt()


@pytest.fixture
async def api(dharness: Harness) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(dharness, dharness.state_dir / "admin") as client:
        yield client
