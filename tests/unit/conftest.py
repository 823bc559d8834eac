"""Fixtures shared by the unit tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from manager.store import StateStore
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


@pytest.fixture(params=["sqlite", pytest.param("etcd", marks=pytest.mark.etcd)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """Each StateStore backend in turn, for the tests of the store's contract."""
    if request.param == "sqlite":
        return sqlite_backend(tmp_path / "state" / "store.db")
    return etcd_backend(request.getfixturevalue("etcd_endpoint"))


@pytest.fixture
async def store(backend: Backend) -> AsyncIterator[StateStore]:
    opened = await backend.open()
    yield opened
    await opened.close()
