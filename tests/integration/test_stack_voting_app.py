"""Docker's example voting app (examples/voting-app/docker-stack.yml: five services, two
networks, a named volume, placement on the manager, depends_on) deploys and converges.

A cluster of one node of its own: on an engine shared by several nodes, a network is held by
one of them, and the worker needs both of the app's networks on its node."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from tests.integration.cluster import Cluster, free_port
from tests.waiting import wait_for

FILE = Path(__file__).parents[2] / "examples" / "voting-app" / "docker-stack.yml"
STACK = "itvote"


@pytest.fixture(scope="module")
def cluster(
    engine: docker.APIClient, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    c = Cluster(root=tmp_path_factory.mktemp("cluster"), port=free_port(), engine=engine)
    try:
        c.start_manager()
        wait_for(lambda: c.all_ready(1), "the manager's node ready")
        yield c
    finally:
        c.stop()
        with contextlib.suppress(docker.errors.NotFound):
            engine.remove_volume(f"{STACK}_db-data")


def test_the_voting_app_deploys_and_converges(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The visualizer's bind mount: the socket of the engine under test, which exists.
    engine = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    monkeypatch.setenv("DOCKER_SOCKET", engine.removeprefix("unix://"))
    try:
        done = cluster.shoal("stack", "deploy", "-c", str(FILE), STACK, timeout=300)
        assert done.code == 0, done.err
        assert done.err == ""
        creations = [line for line in done.out.splitlines() if line.startswith("Creating")]
        assert creations[:3] == [
            f"Creating network {STACK}_backend",
            f"Creating network {STACK}_default",
            f"Creating network {STACK}_frontend",
        ]
        order = [line.rsplit("_", 1)[-1] for line in creations[3:]]
        assert order.index("redis") < order.index("vote")
        assert order.index("db") < order.index("result")
        assert max(order.index("db"), order.index("redis")) < order.index("worker")
        listed = cluster.ok("stack", "services", STACK, "--format", "json").json_lines()
        assert {s["Name"]: s["Replicas"] for s in listed} == {
            f"{STACK}_db": "1/1",
            f"{STACK}_redis": "1/1",
            f"{STACK}_result": "1/1",
            f"{STACK}_visualizer": "1/1",
            f"{STACK}_vote": "2/2",
            f"{STACK}_worker": "1/1",
        }
        ports = {s["Name"]: s["Ports"] for s in listed}
        assert ports[f"{STACK}_vote"] == "*:5000->80/tcp"
        [db] = cluster.containers(f"{STACK}_db")
        mounts = cluster.engine.inspect_container(db["Id"])["Mounts"]
        assert [(m["Type"], m["Name"]) for m in mounts] == [("volume", f"{STACK}_db-data")]
    finally:
        cluster.shoal("stack", "rm", STACK, timeout=120)
