"""Fixtures every kind of test may use."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.etcd_certs import EtcdCerts, make_certs
from tests.etcd_member import etcd_member

# pytest-xdist groups (`make test` runs `--dist loadgroup`): tests of one group run on one
# worker, one after the other; every other module is a group of its own.
LAB_GROUP = "lab"
NETWORKS_GROUP = "engine-networks"
# Integration modules whose clusters make engine networks: two such clusters at once on the one
# test engine would both take the default address pool's first subnet, and the engine refuses
# overlapping subnets (in real use each node has an engine of its own).
NETWORK_MODULES = frozenset(
    {
        "test_dashboard.py",
        "test_docker_cli.py",
        "test_engine_networks.py",
        "test_etcd_move.py",
        "test_join_flood.py",
        "test_shared_engine.py",
        "test_stack_voting_app.py",
        "test_stacks.py",
    }
)


def pytest_itemcollected(item: pytest.Item) -> None:
    """Each test marked with its group as it is collected (xdist reads the marks into the test
    ids when collection ends). The machine holds one multi-host lab, which the e2e modules
    share (tests/e2e/conftest.py); a module of its own is one group so that its module-scoped
    cluster is made once, not once per worker that ran a test of it."""
    path = item.path.as_posix()
    if "/tests/e2e/" in path:
        group = LAB_GROUP
    elif "/tests/integration/" in path and item.path.name in NETWORK_MODULES:
        group = NETWORKS_GROUP
    else:
        group = path
    item.add_marker(pytest.mark.xdist_group(group))


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
