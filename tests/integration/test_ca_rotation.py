"""`shoal ca --rotate` on a real engine: a manager and two agents, one of them away during the
whole rotation."""

from __future__ import annotations

import asyncio
import http.client
import json
import shutil
import signal
import ssl
import subprocess
import threading
import time
from collections.abc import Coroutine, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import docker
import pytest

from common import pki
from common.tls import Bundle
from manager.ca import ClusterCA
from tests.integration.cluster import BIN, DEADLINE, Cluster, free_port
from tests.rogue import Rogue, description
from tests.waiting import SLEEPER, wait_for

T = TypeVar("T")


@pytest.fixture(scope="module")
def cluster(
    engine: docker.APIClient, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    root: Path = tmp_path_factory.mktemp("ca-rotation")
    c = Cluster(root=root, port=free_port(), engine=engine)
    try:
        c.start_manager()
        c.add_agent(1)
        c.add_agent(2)
        wait_for(lambda: c.all_ready(3), "3 ready nodes", DEADLINE)
        yield c
    finally:
        c.stop()


def _tls(c: Cluster) -> dict[str, str]:
    return {n["Hostname"]: n["TLSStatus"] for n in c.nodes()}


def test_rotation_moves_live_nodes_and_tells_an_absent_one_to_join_again(cluster: Cluster) -> None:
    """Live nodes move onto the new root with their containers untouched and the rotation
    ends; then the old token, the old root's and a foreign CA's certificates are refused, and
    the node that was away is told to join again."""
    c = cluster
    c.ok(
        "service",
        "create",
        "-d",
        "--name",
        "kept",
        "--replicas",
        "3",
        "local/busybox:latest",
        *SLEEPER,
    )
    wait_for(lambda: c.running("kept", 3), "3 running", DEADLINE)
    assert set(_tls(c).values()) == {"Ready"}
    old_token = c.ok("join-token", "worker", "-q").out.strip()
    old_admin = c.root / "old-admin"
    shutil.copytree(c.root / "manager" / "admin", old_admin, symlinks=False)
    away = c.agents[1]
    away.kill(signal.SIGTERM)
    wait_for(
        lambda: {n["Hostname"]: n["Status"] for n in c.nodes()}["it-agent-2"] != "Ready" or None,
        "agent 2 gone",
    )
    moved = {x["Id"] for x in c.containers("kept") if x["Labels"]["shoal.node.id"] != _id(c, 2)}

    rotated = c.shoal("ca", "--rotate", timeout=2 * DEADLINE)

    assert rotated.code == 0, rotated.err
    assert "rotated: 2/2 nodes" in rotated.err
    new_root = pki.load_certs(rotated.out.encode())
    assert len(new_root) == 1
    # Every live node presents a certificate of the new root, and trusts it alone.
    agent = Bundle.load(c.root / "agent-1")
    assert pki.issued_by(pki.load_cert(agent.cert_pem), new_root[0])
    wait_for(
        lambda: Bundle.load(c.root / "agent-1").ca_pem == rotated.out.encode() or None,
        "agent 1 to drop the old root",
    )
    tls = _tls(c)
    assert (tls["it-manager"], tls["it-agent-1"], tls["it-agent-2"]) == (
        "Ready",
        "Ready",
        "NeedsRejoin",
    )
    # The containers of the nodes that moved are the same ones.
    assert moved <= {x["Id"] for x in c.containers("kept")}

    # The old join token is refused, saying why, in one line.
    joined = subprocess.run(
        [str(BIN / "agent"), "join", old_token, c.addr, "--state-dir", str(c.root / "agent-3")],
        capture_output=True,
        text=True,
        env=c.env,
        timeout=DEADLINE,
    )
    assert joined.returncode == 1
    assert "rotated" in joined.stderr
    assert len(joined.stderr.strip().splitlines()) == 1

    # Admin certificates of the old root, and of a CA foreign to the cluster, are refused.
    assert c.shoal("--config", str(old_admin), "node", "ls").code == 1
    foreign_dir = c.root / "foreign-admin"
    foreign = ClusterCA.create(Bundle.load(old_admin).subject.cluster_id)
    issued = foreign.issue_with_key(
        "admin", pki.ROLE_ADMIN, Bundle.load(old_admin).subject.cluster_id, timedelta(hours=1)
    )
    Bundle(
        ca_pem=rotated.out.encode(),
        cert_pem=pki.cert_pem(issued.cert),
        key_pem=pki.key_pem(issued.key),
    ).save(foreign_dir)
    assert c.shoal("--config", str(foreign_dir), "node", "ls").code == 1
    assert c.shoal("node", "ls").code == 0
    # The Docker API too, though its TLS layer cannot drop a root: the app refuses the old one.
    assert _docker_api_status(c, old_admin, rotated.out) == 401
    assert _docker_api_status(c, c.root / "manager" / "admin", rotated.out) == 200
    inspected = json.loads(c.ok("node", "inspect", "it-agent-2").out)[0]
    assert inspected["Description"]["TLSInfo"]["Status"] == "NeedsRejoin"

    # The node away during the whole rotation is told to join again, and stops.
    back = subprocess.run(
        [str(BIN / "agent"), "run", "--state-dir", str(c.root / "agent-2")],
        capture_output=True,
        text=True,
        env=c.env,
        timeout=DEADLINE,
    )
    assert back.returncode == 1
    assert "cluster CA was rotated" in back.stderr


def _docker_api_status(c: Cluster, bundle_dir: Path, roots: str) -> int:
    """The Docker API's answer to GET /info presenting the admin certificate in bundle_dir."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cadata=roots)
    context.load_cert_chain(bundle_dir / "cert.pem", bundle_dir / "key.pem")
    connection = http.client.HTTPSConnection(
        "127.0.0.1", c.docker_api_port, context=context, timeout=DEADLINE
    )
    try:
        connection.request("GET", "/v1.41/info")
        return connection.getresponse().status
    finally:
        connection.close()


def _id(c: Cluster, index: int) -> str:
    return str(json.loads((c.root / f"agent-{index}" / "identity.json").read_text())["node_id"])


class _StuckNode:
    """A joined node holding a session and beating, that never renews (tests/rogue.py, in a
    thread of its own): a rotation waits on it."""

    def __init__(self, token: str, manager: str) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._rogue = self._run(Rogue.join(token, manager, "it-stuck"))
        self._run(self._rogue.open(description("it-stuck")))

    def _run(self, work: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(work, self._loop).result(DEADLINE)

    def close(self) -> None:
        self._run(self._rogue.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(DEADLINE)
        self._loop.close()


def test_a_node_that_does_not_move_holds_the_rotation_until_it_is_gone(cluster: Cluster) -> None:
    """The wait ends at --timeout with exit 2 naming the node that did not move (-q: no
    progress lines); a second rotation is refused while one is in progress; once the node is
    gone the rotation ends by itself; -d returns at once."""
    c = cluster
    stuck = _StuckNode(c.ok("join-token", "worker", "-q").out.strip(), c.addr)
    try:
        wait_for(lambda: _tls(c).get("it-stuck") == "Ready" or None, "the stuck node ready")
        timed_out = c.shoal("ca", "--rotate", "-q", "--timeout", "4s", timeout=2 * DEADLINE)
        assert timed_out.code == 2, timed_out.err
        assert "rotated:" not in timed_out.err
        assert timed_out.err.strip().endswith("nodes not moved yet: it-stuck")
        assert _tls(c)["it-stuck"] == "NeedsRotation"
        again = c.shoal("ca", "--rotate", "-d")
        assert again.code == 1
        assert "already in progress" in again.err
    finally:
        stuck.close()
    wait_for(lambda: "in progress" not in c.ok("ca").err or None, "the rotation to end", DEADLINE)
    started = time.monotonic()
    detached = c.shoal("ca", "--rotate", "-d")
    assert detached.code == 0, detached.err
    assert time.monotonic() - started < DEADLINE
    wait_for(
        lambda: "in progress" not in c.ok("ca").err or None, "the detached one to end", DEADLINE
    )
