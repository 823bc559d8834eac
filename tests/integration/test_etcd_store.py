"""`manager serve --store etcd://...`: a manager keeping its state in etcd, with an agent on the
test engine; a service converges, and a restarted manager finds everything in etcd."""

from __future__ import annotations

import asyncio
import json
import signal
import uuid
from collections.abc import Iterator

import docker
import pytest

from manager.store.etcd_client import EtcdClient
from tests.integration.cluster import Cluster, free_port
from tests.waiting import SLEEPER, wait_for

pytestmark = pytest.mark.etcd


@pytest.fixture(scope="module")
def prefix() -> str:
    return f"/it-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="module")
def cluster(
    engine: docker.APIClient,
    etcd_endpoint: str,
    prefix: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Cluster]:
    c = Cluster(
        root=tmp_path_factory.mktemp("etcd-cluster"),
        port=free_port(),
        engine=engine,
        manager_args=["--store", f"etcd://{etcd_endpoint}{prefix}"],
    )
    try:
        c.start_manager()
        c.add_agent(1)
        wait_for(lambda: c.all_ready(2), "2 ready nodes")
        yield c
    finally:
        c.stop()


def services_in_etcd(endpoint: str, prefix: str) -> int:
    async def count() -> int:
        client = EtcdClient([endpoint])
        try:
            kvs, _ = await client.range_prefix(f"{prefix}/objects/service/".encode())
        finally:
            await client.close()
        return len(kvs)

    return asyncio.run(count())


def test_info_names_the_etcd_store(cluster: Cluster, etcd_endpoint: str, prefix: str) -> None:
    info = json.loads(cluster.ok("info", "--format", "json").out)
    assert info["Store"] == {"Backend": "etcd", "Location": f"{etcd_endpoint}{prefix}"}


def test_a_service_converges_and_survives_a_manager_restart(
    cluster: Cluster, etcd_endpoint: str, prefix: str
) -> None:
    argv = ["service", "create", "-d", "--name", "kept", "--replicas", "2"]
    cluster.ok(*argv, "local/busybox:latest", *SLEEPER)
    before = sorted(c["Id"] for c in wait_for(lambda: cluster.running("kept", 2), "2 running"))
    nodes_before = sorted(n["ID"] for n in cluster.nodes())
    assert services_in_etcd(etcd_endpoint, prefix) == 1
    # The state is in etcd, not in a SQLite file beside the manager's certificates.
    assert not (cluster.root / "manager" / "state.db").exists()

    cluster.manager.kill(signal.SIGKILL)
    cluster.start_manager()
    services = cluster.ok("service", "ls", "--format", "json").json_lines()
    assert [s["Name"] for s in services] == ["kept"]
    wait_for(lambda: cluster.all_ready(2), "the agent back")
    assert sorted(n["ID"] for n in cluster.nodes()) == nodes_before
    assert sorted(c["Id"] for c in cluster.containers("kept", running=False)) == before
    cluster.ok("service", "rm", "kept")
    wait_for(lambda: not cluster.containers("kept", running=False), "kept's containers to go")
