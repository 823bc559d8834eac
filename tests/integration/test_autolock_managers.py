"""Autolock with two managers on etcd: the setting is the cluster's, a manager that joins picks it
up, each manager is locked and unlocked on its own, and a rotation or turning it off reaches
every manager's key files."""

from __future__ import annotations

import signal
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from common import key_files
from common.errors import InvalidArgument
from common.key_files import Kek
from tests.integration.cluster import BIN, DEADLINE, Cluster, Daemon, free_port
from tests.integration.test_manager_join import Joined, manager_argv
from tests.waiting import wait_for

pytestmark = pytest.mark.etcd


@pytest.fixture(scope="module")
def cluster(
    engine: docker.APIClient, etcd_endpoint: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    c = Cluster(
        root=tmp_path_factory.mktemp("locked-managers"),
        port=free_port(),
        engine=engine,
        manager_args=["--store", f"etcd://{etcd_endpoint}/it-{uuid.uuid4().hex[:12]}"],
    )
    try:
        c.start_manager()
        yield c
    finally:
        c.stop()


def _join(cluster: Cluster) -> Joined:
    token = cluster.ok("join-token", "manager", "-q").out.strip()
    port = free_port()
    state_dir = cluster.root / "manager-2"
    daemon = Daemon(
        "manager-2",
        manager_argv("join", state_dir, port, token, cluster.addr),
        cluster.root / "manager-2.log",
    )
    env = {
        **cluster.env,
        "SHOAL_HOST": f"127.0.0.1:{port}",
        "SHOAL_CONFIG": str(state_dir / "admin"),
    }
    daemon.start(env)
    cluster.agents.append(daemon)  # stopped, and its containers removed, with the cluster
    return Joined(daemon, port, state_dir, env)


def _sealed_under(state_dir: Path, kek: Kek | None) -> bool:
    files = key_files.key_files(state_dir)
    sealed = [key_files.is_sealed(p.read_bytes()) for p in files]
    if kek is None:
        return bool(files) and not any(sealed)
    try:
        key_files.check(state_dir, kek)
    except InvalidArgument:
        return False
    return len(files) >= 4 and all(sealed)


def _unlock(state_dir: Path, env: dict[str, str], key: str) -> int:
    done = subprocess.run(
        [str(BIN / "shoal"), "-H", f"unix://{state_dir / 'manager.sock'}", "cluster", "unlock"],
        capture_output=True,
        text=True,
        input=key,
        env=env,
        timeout=DEADLINE,
    )
    return done.returncode


def _ready(joined: Joined) -> bool:
    return {n["Hostname"]: n["Status"] for n in joined.nodes()}.get("it-manager-2") == "Ready"


def test_each_manager_locks_on_its_own_and_follows_the_cluster(cluster: Cluster) -> None:
    first = cluster.root / "manager"
    printed = cluster.ok("cluster", "update", "--autolock=true").out
    key = Kek.parse(next(line for line in printed.splitlines() if "SHOALKEY-1-" in line))
    wait_for(lambda: _sealed_under(first, key), "the first manager's key files sealed")

    joined = _join(cluster)
    wait_for(lambda: _ready(joined), "the joined manager's node Ready", timeout=2 * DEADLINE)
    wait_for(lambda: _sealed_under(joined.state_dir, key), "the joined manager sealed, too")

    joined.daemon.kill(signal.SIGTERM)
    joined.daemon.start(joined.env)
    wait_for(lambda: (joined.state_dir / "manager.sock").exists(), "the second manager locked")
    # The first manager goes on serving meanwhile.
    assert cluster.ok("service", "ls").code == 0
    assert _unlock(joined.state_dir, joined.env, Kek.generate().unlock_key) == 1
    assert _unlock(joined.state_dir, joined.env, key.unlock_key) == 0
    wait_for(lambda: _ready(joined), "the unlocked manager's node Ready", timeout=2 * DEADLINE)

    # A rotation asked of the second manager (forwarded to the leader) reaches both.
    listed = joined.shoal("cluster", "unlock-key", "--rotate", "-q")
    assert listed.returncode == 0, listed.stderr
    new = Kek.parse(listed.stdout)
    wait_for(
        lambda: _sealed_under(first, new) and _sealed_under(joined.state_dir, new),
        "both managers' key files resealed under the new key",
    )

    cluster.ok("cluster", "update", "--autolock=false")
    wait_for(
        lambda: _sealed_under(first, None) and _sealed_under(joined.state_dir, None),
        "both managers' key files in the clear",
    )
    for daemon in (cluster.manager, joined.daemon):
        for text in (daemon.log_text(), daemon.out.read_text()):
            assert key.unlock_key not in text
            assert new.unlock_key not in text
