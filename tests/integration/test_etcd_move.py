"""A cluster begun on SQLite moves into etcd: `manager serve --store etcd://...` on its state
dir carries the same services, tasks, networks and nodes on, containers untouched, and its join
token still joins; a state dir of another cluster is refused over it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import subprocess
import uuid
from pathlib import Path

import docker
import pytest

from common.model import Cluster as ClusterObject
from manager.store import Put, SqliteStore
from tests.integration.cluster import BIN, Cluster, Daemon, free_port
from tests.waiting import SLEEPER, wait_for

pytestmark = pytest.mark.etcd


def listing(cluster: Cluster, *args: str) -> list[tuple[str, str]]:
    lines = cluster.ok(*args, "--format", "json").json_lines()
    return sorted((line["ID"], line.get("Name") or line.get("Hostname") or "") for line in lines)


def another_sqlite_cluster(state_dir: Path) -> None:
    async def make() -> None:
        store = await SqliteStore.open(state_dir / "state.db")
        try:
            cluster = ClusterObject(
                id="theirs", digest="0" * 64, clear_worker_secret="w", clear_manager_secret="m"
            )
            await store.commit([Put(cluster)])
        finally:
            await store.close()

    asyncio.run(make())


def test_a_sqlite_cluster_moves_into_etcd_and_carries_on(
    engine: docker.APIClient, etcd_endpoint: str, tmp_path: Path
) -> None:
    url = f"etcd://{etcd_endpoint}/it-move-{uuid.uuid4().hex[:12]}"
    cluster = Cluster(root=tmp_path, port=free_port(), engine=engine)
    try:
        cluster.start_manager()
        cluster.add_agent(1)
        wait_for(lambda: cluster.all_ready(2), "2 ready nodes")
        cluster.ok("network", "create", "moved-net")
        cluster.ok(
            "service", "create", "-d", "--name", "moved", "--replicas", "2",
            "--network", "moved-net", "local/busybox:latest", *SLEEPER,
        )  # fmt: skip
        running = wait_for(lambda: cluster.running("moved", 2), "2 tasks running", 60)
        containers = sorted(c["Id"] for c in running)
        services = listing(cluster, "service", "ls")
        networks = listing(cluster, "network", "ls")
        nodes = listing(cluster, "node", "ls")
        tasks = sorted(t["ID"] for t in cluster.tasks("moved"))

        # kill -9: the move must also take what SQLite's write-ahead log holds.
        cluster.manager.kill(signal.SIGKILL)
        old = cluster.manager
        cluster.manager = Daemon(old.name, [*old.argv, "--store", url], old.log)
        cluster.start_manager()

        info = json.loads(cluster.ok("info", "--format", "json").out)
        assert info["Store"]["Backend"] == "etcd"
        assert not (tmp_path / "manager" / "state.db").exists()
        assert (tmp_path / "manager" / "state.db.moved-to-etcd").exists()
        assert listing(cluster, "service", "ls") == services
        assert listing(cluster, "network", "ls") == networks
        assert listing(cluster, "node", "ls") == nodes
        assert sorted(t["ID"] for t in cluster.tasks("moved")) == tasks
        wait_for(lambda: cluster.all_ready(2), "the agent back, on the etcd manager")
        assert sorted(c["Id"] for c in cluster.containers("moved", running=False)) == containers

        # The worker token the SQLite cluster made still joins.
        cluster.add_agent(2)
        wait_for(lambda: cluster.all_ready(3), "a third node joined after the move")

        # Another cluster's state dir may not move over this one: one line, exit 1, no change.
        other = tmp_path / "other"
        another_sqlite_cluster(other)
        argv = ["serve", "--state-dir", str(other), "--listen", f"127.0.0.1:{free_port()}"]
        refused = subprocess.run(
            [str(BIN / "manager"), *argv, "--store", url],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert refused.returncode == 1
        assert refused.stderr.count("\n") == 1
        assert "already holds another cluster" in refused.stderr
        assert (other / "state.db").exists()
        assert listing(cluster, "service", "ls") == services
        assert len(listing(cluster, "node", "ls")) == 3
    finally:
        # The engine is shared: its network goes too, once the manager answers.
        if cluster.shoal("service", "rm", "moved").code == 0:
            with contextlib.suppress(AssertionError):
                wait_for(lambda: cluster.shoal("network", "rm", "moved-net").code == 0, "net", 60)
        cluster.stop()
