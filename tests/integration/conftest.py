"""One cluster per module: a manager (itself a node) and two agents on the test engine."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from tests.integration.cluster import HEARTBEAT, Cluster, free_port
from tests.waiting import wait_for


@pytest.fixture(scope="session")
def engine() -> Iterator[docker.APIClient]:
    client = docker.from_env().api
    try:
        client.ping()
    except Exception as exc:
        pytest.fail(f"integration tests need a Docker engine at DOCKER_HOST: {exc}")
    client.inspect_image("local/busybox:latest")  # type: ignore[no-untyped-call]
    yield client
    client.close()


@pytest.fixture(scope="module")
def heartbeat() -> float:
    """The cluster's heartbeat period; a module overrides it to give restarts more time."""
    return HEARTBEAT


@pytest.fixture(scope="module")
def cluster(
    engine: docker.APIClient, tmp_path_factory: pytest.TempPathFactory, heartbeat: float
) -> Iterator[Cluster]:
    root: Path = tmp_path_factory.mktemp("cluster")
    c = Cluster(root=root, port=free_port(), engine=engine, heartbeat=heartbeat)
    try:
        c.start_manager()
        c.add_agent(1)
        c.add_agent(2)
        wait_for(lambda: c.all_ready(3), "3 ready nodes")
        yield c
    finally:
        c.stop()
