"""The client's tests' fixtures: bundles, a home and environment of the test's own, the fake
Control serving over mutual TLS, and `shoal` pointed at it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from cli import connection, registry
from common import pki
from common.tls import Bundle
from manager.ca import ClusterCA
from tests.unit.cli.fake_control import FakeControl
from tests.unit.cli.harness import Certificates, Places, Shoal, serving
from tests.unit.cli.seeded import CLUSTER_ID, LIFETIME, seed


@pytest.fixture(scope="session")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    root = tmp_path_factory.mktemp("pki")
    ca = ClusterCA.load_or_create(root / "ca", CLUSTER_ID)
    other = ClusterCA.load_or_create(root / "other-ca", "cluster2")

    def bundle(issuer: ClusterCA, role: str, hosts: list[str] | None = None) -> Bundle:
        return issuer.issue_with_key(role, role, CLUSTER_ID, LIFETIME, hosts=hosts).bundle(issuer)

    def saved(name: str, saving: Bundle) -> Path:
        saving.save(root / name)
        return root / name

    foreign = bundle(other, pki.ROLE_ADMIN)
    return Certificates(
        server=bundle(ca, pki.ROLE_MANAGER, ["localhost", "127.0.0.1"]),
        admin=saved("admin", bundle(ca, pki.ROLE_ADMIN)),
        worker=saved("worker", bundle(ca, pki.ROLE_WORKER)),
        foreign=saved("foreign", foreign),
        stranger=saved("stranger", replace(foreign, ca_pem=ca.pem)),
        localhost_only=bundle(ca, pki.ROLE_MANAGER, ["localhost"]),
    )


@pytest.fixture(autouse=True)
def places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Places:
    """Keeps the test run's own environment, home and /var/lib out of every test."""
    monkeypatch.delenv(connection.CONFIG_ENV, raising=False)
    monkeypatch.delenv(connection.HOST_ENV, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(connection, "MANAGER_ADMIN_DIR", tmp_path / "manager-admin")
    return Places(
        home_config=tmp_path / "home" / ".shoal", manager_admin=tmp_path / "manager-admin"
    )


@pytest.fixture(autouse=True)
def no_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    """The client resolves an image's digest through a Docker engine: here there is none, and
    every image counts as built on it (tests of resolving replace this)."""
    monkeypatch.setattr(registry, "_digest", lambda reference, auth: None)


@pytest.fixture
def control(certificates: Certificates) -> Iterator[FakeControl]:
    fake = FakeControl()
    seed(fake)
    with serving(fake, certificates.server):
        yield fake


@pytest.fixture
def shoal(
    control: FakeControl, certificates: Certificates, capsys: pytest.CaptureFixture[str]
) -> Shoal:
    return Shoal(capsys, control.address, certificates.admin)
