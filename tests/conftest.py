"""Fixtures every kind of test may use."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.etcd_certs import EtcdCerts, make_certs
from tests.etcd_member import etcd_member

LAB_GROUP = "lab"


def pytest_itemcollected(item: pytest.Item) -> None:
    """`make test` spreads the tests over pytest-xdist workers (`--dist loadgroup`). The machine
    holds one multi-host lab, which every e2e module shares (tests/e2e/conftest.py), so they all
    go to one worker; every other module goes whole to one worker, so that a module's cluster
    (a module-scoped fixture) is brought up once, not once per worker that ran a test of it.
    Marked as each test is collected: xdist reads the marks into the test ids when collection
    ends."""
    path = item.path.as_posix()
    item.add_marker(pytest.mark.xdist_group(LAB_GROUP if "/tests/e2e/" in path else path))


def pytest_collection_finish(session: pytest.Session) -> None:
    """Grouping goes by test ids that xdist rewrites: a pytest that rebuilds them (9.2) would
    spread the e2e modules over workers, each bringing a lab up on the one machine."""
    if getattr(session.config.option, "loadgroup", False):
        ungrouped = [item.nodeid for item in session.items if "@" not in item.nodeid]
        if ungrouped:
            raise pytest.UsageError(f"pytest-xdist did not group {ungrouped[0]} (pytest < 9?)")


@pytest.fixture(scope="session")
def etcd_endpoint() -> Iterator[str]:
    """One etcd member for the whole run, started by the first test that needs it; each test
    keeps its keys under a prefix of its own."""
    with etcd_member() as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def etcd_tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, EtcdCerts]]:
    """One etcd member served over TLS that asks clients for a certificate of its CA
    (--client-cert-auth); its endpoint, and the certificates the test made for it."""
    certs = make_certs(tmp_path_factory.mktemp("etcd-certs"), ["127.0.0.1"])
    with etcd_member(tls=certs) as endpoint:
        yield endpoint, certs
