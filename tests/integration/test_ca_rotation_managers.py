"""`shoal ca --rotate` among two managers on etcd and an agent: asked of the follower, it is
forwarded to the leader; the new root's key reaches the follower through the store, sealed
(never in the clear there), and both managers serve with the new root without a restart; a
manager joining afterwards gets the new root."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from common import pki
from common.tls import Bundle
from tests.integration.cluster import BIN, DEADLINE, Cluster, Daemon, free_port
from tests.waiting import wait_for

pytestmark = pytest.mark.etcd


def _manager(c: Cluster, name: str, token: str) -> tuple[Daemon, str]:
    addr = f"127.0.0.1:{free_port()}"
    daemon = Daemon(
        name,
        [
            str(BIN / "manager"),
            "join",
            token,
            c.addr,
            "--listen",
            addr,
            "--advertise",
            "127.0.0.1",
            "--state-dir",
            str(c.root / name),
            "--hostname",
            name,
            "--heartbeat-period",
            "1s",
            "--docker-api-addr",
            "",
        ],
        c.root / f"{name}.log",
    )
    daemon.start(c.env)
    c.agents.append(daemon)
    return daemon, addr


def _ls(c: Cluster, addr: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "shoal"), "--host", addr, "node", "ls", "--format", "json"],
        capture_output=True,
        text=True,
        env=c.env,
        timeout=DEADLINE,
    )


@pytest.fixture(scope="module")
def prefix() -> str:
    return f"it-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="module")
def cluster(
    engine: docker.APIClient,
    etcd_endpoint: str,
    prefix: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Cluster, str]]:
    root: Path = tmp_path_factory.mktemp("ca-rotation-managers")
    c = Cluster(
        root=root,
        port=free_port(),
        engine=engine,
        manager_args=["--heartbeat-period", "1s", "--store", f"etcd://{etcd_endpoint}/{prefix}"],
    )
    try:
        c.start_manager()
        _, follower = _manager(c, "it-manager-2", c.ok("join-token", "manager", "-q").out.strip())
        wait_for(lambda: _ls(c, follower).returncode == 0 or None, "the follower", 3 * DEADLINE)
        c.add_agent(1)
        wait_for(lambda: c.all_ready(3), "3 ready nodes", 3 * DEADLINE)
        yield c, follower
    finally:
        c.stop()


def test_rotation_reaches_every_manager_through_the_store(
    cluster: tuple[Cluster, str], etcd_endpoint: str, prefix: str
) -> None:
    c, follower = cluster
    rotated = subprocess.run(
        [str(BIN / "shoal"), "--host", follower, "ca", "--rotate"],
        capture_output=True,
        text=True,
        env=c.env,
        timeout=3 * DEADLINE,
    )
    assert rotated.returncode == 0, rotated.stderr
    assert "rotated: 3/3 nodes" in rotated.stderr
    (new_root,) = pki.load_certs(rotated.stdout.encode())
    # The follower took the new root up from the store: on disk, and in what it serves.
    follower_dir = c.root / "it-manager-2"
    assert (follower_dir / "ca" / "ca.pem").read_bytes() == rotated.stdout.encode()
    wait_for(
        lambda: (
            pki.issued_by(pki.load_cert(Bundle.load(follower_dir / "tls").cert_pem), new_root)
            or None
        ),
        "the follower's serving certificate of the new root",
    )
    # Its server takes the new certificate up a moment after it is on disk.
    wait_for(lambda: _ls(c, follower).returncode == 0 or None, "the follower serving on it")
    assert _ls(c, c.addr).returncode == 0
    # The store holds the keys sealed only.
    dump = subprocess.run(
        ["etcdctl", f"--endpoints={etcd_endpoint}", "get", "--prefix", f"/{prefix}"],
        capture_output=True,
        env={"ETCDCTL_API": "3", "PATH": "/usr/bin:/bin"},
        timeout=DEADLINE,
        check=True,
    ).stdout
    # The new root's certificate is there (so the dump is of this cluster), its key not.
    assert rotated.stdout.encode().splitlines()[1] in dump
    assert b"PRIVATE KEY" not in dump
    # A manager joining now is given the new root.
    token = c.ok("join-token", "manager", "-q").out.strip()
    _, third = _manager(c, "it-manager-3", token)
    wait_for(lambda: _ls(c, third).returncode == 0 or None, "the third manager", 3 * DEADLINE)
    assert (c.root / "it-manager-3" / "ca" / "ca.pem").read_bytes() == rotated.stdout.encode()
