"""Fixtures shared by the unit tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from manager.store import StateStore
from manager.store.etcd_tls import load as load_tls
from tests.unit.harness import Harness
from tests.unit.stores import Backend, etcd_backend, sqlite_backend


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    h = Harness(tmp_path / "manager")
    await h.start()
    try:
        yield h
    finally:
        await h.halt()


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("etcd", marks=pytest.mark.etcd),
        pytest.param("etcd-tls", marks=pytest.mark.etcd),
    ]
)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """Each StateStore backend in turn, for the tests of the store's contract: SQLite, etcd,
    and etcd over TLS with a client certificate."""
    if request.param == "sqlite":
        return sqlite_backend(tmp_path / "state" / "store.db")
    if request.param == "etcd":
        return etcd_backend(request.getfixturevalue("etcd_endpoint"))
    endpoint, certs = request.getfixturevalue("etcd_tls")
    return etcd_backend(endpoint, load_tls(certs.ca, certs.client.cert, certs.client.key))


@pytest.fixture
async def store(backend: Backend) -> AsyncIterator[StateStore]:
    opened = await backend.open()
    yield opened
    await opened.close()
