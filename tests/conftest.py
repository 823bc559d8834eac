"""Fixtures every kind of test may use."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.etcd_member import etcd_member


@pytest.fixture(scope="session")
def etcd_endpoint() -> Iterator[str]:
    """One etcd member for the whole run, started by the first test that needs it; each test
    keeps its keys under a prefix of its own."""
    with etcd_member() as endpoint:
        yield endpoint
