"""Autolock on a real engine: a manager (itself a node) and an agent running a service; the
manager locked, restarted, refused a wrong key, unlocked, its key rotated, then turned off."""

from __future__ import annotations

import re
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
import requests

from common import key_files
from common.errors import InvalidArgument
from common.key_files import Kek
from tests.integration.cluster import BIN, DEADLINE, Cluster, Result, free_port
from tests.waiting import SLEEPER, wait_for

KEY = re.compile(r"SHOALKEY-1-[A-Za-z0-9_-]+")


@pytest.fixture(scope="module")
def cluster(
    engine: docker.APIClient, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    root: Path = tmp_path_factory.mktemp("autolock")
    c = Cluster(root=root, port=free_port(), engine=engine)
    try:
        c.start_manager()
        c.add_agent(1)
        wait_for(lambda: c.all_ready(2), "2 ready nodes")
        yield c
    finally:
        c.stop()


def _state(cluster: Cluster) -> Path:
    return cluster.root / "manager"


def _socket(cluster: Cluster) -> str:
    return f"unix://{_state(cluster) / 'manager.sock'}"


def _local(cluster: Cluster, *args: str, stdin: str = "", host: str = "") -> Result:
    """shoal against the manager's local socket (or host), with stdin (not a TTY) piped."""
    done = subprocess.run(
        [str(BIN / "shoal"), "-H", host or _socket(cluster), *args],
        capture_output=True,
        text=True,
        input=stdin,
        env=cluster.env,
        timeout=DEADLINE,
    )
    return Result(done.returncode, done.stdout, done.stderr)


def _restart_locked(cluster: Cluster) -> None:
    cluster.manager.kill(signal.SIGTERM)
    cluster.manager.start(cluster.env)
    wait_for(
        lambda: "manager is locked" in _local(cluster, "service", "ls").err,
        "the restarted manager to answer that it is locked",
        timeout=3 * DEADLINE,
    )


def _sealed_under(cluster: Cluster, kek: Kek | None) -> bool:
    files = key_files.key_files(_state(cluster))
    sealed = [key_files.is_sealed(p.read_bytes()) for p in files]
    if kek is None:
        return not any(sealed)
    try:
        key_files.check(_state(cluster), kek)
    except InvalidArgument:
        return False
    return len(files) >= 4 and all(sealed)


def _docker_api_nodes(cluster: Cluster) -> int | None:
    """How many nodes the manager's Docker API lists (its TLS key comes from the serving
    bundle, sealed under autolock), or None when it does not answer."""
    admin = _state(cluster) / "admin"
    tls = docker.tls.TLSConfig(
        client_cert=(str(admin / "cert.pem"), str(admin / "key.pem")),
        ca_cert=str(admin / "ca.pem"),
        verify=True,
    )
    client = docker.DockerClient(
        base_url=f"tcp://127.0.0.1:{cluster.docker_api_port}", tls=tls, version="1.41", timeout=10
    )
    try:
        return len(client.nodes.list())
    except (docker.errors.DockerException, requests.exceptions.RequestException):
        return None
    finally:
        client.close()


def _ids(cluster: Cluster) -> list[str]:
    return sorted(c["Id"] for c in cluster.containers("locked"))


def test_lock_restart_unlock_rotate_and_turn_off(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    # requests would trust the system's bundle instead of the cluster CA (test_docker_cli.py).
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    cluster.ok(
        "service", "create", "-d", "--name", "locked", "--replicas", "2",
        "--replicas-max-per-node", "1", "local/busybox:latest", *SLEEPER,
    )  # fmt: skip
    wait_for(lambda: cluster.running("locked", 2), "2 replicas, one on each node")
    before = _ids(cluster)
    nodes = {c["Labels"]["shoal.node.id"] for c in cluster.containers("locked")}
    assert len(nodes) == 2, "the manager's own node runs a replica too"

    turned_on = cluster.ok("cluster", "update", "--autolock=true")
    key = KEY.search(turned_on.out)
    assert key is not None, turned_on.out
    kek = Kek.parse(key.group())
    # The CA key, the serving and node keys and the data key; the client bundle stays clear.
    wait_for(lambda: _sealed_under(cluster, kek), "the manager's key files sealed")
    assert not key_files.is_sealed((_state(cluster) / "admin" / "key.pem").read_bytes())
    assert cluster.ok("cluster", "unlock-key", "-q").out.strip() == kek.unlock_key

    _restart_locked(cluster)
    locked = _local(cluster, "service", "ls")
    assert locked.code == 1
    assert locked.err.strip() == "Error: manager is locked: run shoal cluster unlock"
    # Nothing else serves: not the TLS port, not the Docker API.
    assert cluster.shoal("node", "ls").code == 1
    assert _docker_api_nodes(cluster) is None
    assert _ids(cluster) == before

    wrong = _local(cluster, "cluster", "unlock", stdin=Kek.generate().unlock_key + "\n")
    assert wrong.code == 1
    assert wrong.err.count("\n") == 1
    assert "invalid unlock key" in wrong.err
    assert "manager is locked" in _local(cluster, "service", "ls").err
    assert _sealed_under(cluster, kek)

    assert _local(cluster, "cluster", "unlock", stdin=kek.unlock_key + "\n").code == 0
    wait_for(lambda: cluster.all_ready(2), "both nodes ready after the unlock")
    wait_for(lambda: cluster.running("locked", 2), "the service still converged")
    assert _ids(cluster) == before
    assert _docker_api_nodes(cluster) == 2
    unlocked = _local(cluster, "cluster", "unlock", stdin=kek.unlock_key, host=cluster.addr)
    assert "this manager is not locked" in unlocked.err

    rotated = cluster.ok("cluster", "unlock-key", "--rotate", "-q").out.strip()
    new = Kek.parse(rotated)
    assert new != kek
    wait_for(lambda: _sealed_under(cluster, new), "the key files resealed under the new key")
    _restart_locked(cluster)
    assert _local(cluster, "cluster", "unlock", stdin=kek.unlock_key).code == 1
    assert _local(cluster, "cluster", "unlock", stdin=rotated).code == 0
    wait_for(lambda: cluster.all_ready(2), "both nodes ready after the second unlock")

    cluster.ok("cluster", "update", "--autolock=false")
    wait_for(lambda: _sealed_under(cluster, None), "the key files in the clear again")
    off = cluster.shoal("cluster", "unlock-key")
    assert off.code == 1
    assert "autolock is off" in off.err
    cluster.manager.kill(signal.SIGTERM)
    cluster.start_manager()
    wait_for(lambda: cluster.all_ready(2), "both nodes ready without an unlock")
    wait_for(lambda: cluster.running("locked", 2), "the service converged")
    assert _ids(cluster) == before

    # The unlock keys were printed by the client only: never in the manager's log or output.
    for text in (cluster.manager.log_text(), cluster.manager.out.read_text()):
        assert kek.unlock_key not in text
        assert rotated not in text


def test_serve_autolock_creates_a_locked_cluster_and_prints_the_key_once(
    engine: docker.APIClient, tmp_path: Path
) -> None:
    c = Cluster(root=tmp_path, port=free_port(), engine=engine, manager_args=["--autolock"])
    try:
        c.start_manager()
        printed = c.manager.out.read_text()
        keys = KEY.findall(printed)
        assert len(keys) == 1, printed
        assert "shoal cluster unlock" in printed
        kek = Kek.parse(keys[0])
        assert _sealed_under(c, kek)
        assert c.ok("cluster", "unlock-key", "-q").out.strip() == kek.unlock_key
        assert kek.unlock_key not in c.manager.log_text()
        _restart_locked(c)
        assert _local(c, "cluster", "unlock", stdin=kek.unlock_key).code == 0
        c.ok("node", "ls")
        # Restarted (with the flag again, as a service unit would): no new key, none printed.
        _restart_locked(c)
        assert _local(c, "cluster", "unlock", stdin=kek.unlock_key).code == 0
        wait_for(
            lambda: (r := c.answers("node", "ls")) is not None and r.code == 0,
            "the manager to serve",
        )
        assert c.ok("cluster", "unlock-key", "-q").out.strip() == kek.unlock_key
        assert KEY.findall(c.manager.out.read_text()) == keys
    finally:
        c.stop()
