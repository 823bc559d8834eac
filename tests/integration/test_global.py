"""Global services on the real engine: one task on every node, following nodes that join and
nodes that drain (this module adds a node, so it has a cluster of its own)."""

from __future__ import annotations

import json

from tests.integration.cluster import Cluster
from tests.waiting import SLEEPER, wait_for


def nodes_running(cluster: Cluster, name: str) -> list[str]:
    return sorted(c["Labels"]["shoal.node.id"] for c in cluster.containers(name))


def node_id(cluster: Cluster, hostname: str) -> str:
    [doc] = json.loads(cluster.ok("node", "inspect", hostname).out)
    return str(doc["ID"])


def test_a_global_service_follows_joining_and_draining_nodes(cluster: Cluster) -> None:
    """--mode global runs one task per node and waits for them; a node that joins gets its own;
    a drained node loses its own and no node gets a second."""
    result = cluster.shoal(
        "service", "create", "--mode", "global", "--name", "everywhere",
        "local/busybox:latest", *SLEEPER,
    )  # fmt: skip
    assert result.code == 0, result.err
    assert "overall progress: 3 out of 3 tasks" in result.out
    assert len(set(nodes_running(cluster, "everywhere"))) == 3

    cluster.add_agent(3)
    wait_for(lambda: cluster.all_ready(4), "4 ready nodes")
    newcomer = node_id(cluster, "it-agent-3")
    wait_for(lambda: newcomer in nodes_running(cluster, "everywhere"), "a task on the new node")

    cluster.ok("node", "update", "--availability", "drain", "it-agent-1")
    drained = node_id(cluster, "it-agent-1")
    wait_for(
        lambda: drained not in nodes_running(cluster, "everywhere"), "the drained node emptied"
    )
    running = nodes_running(cluster, "everywhere")
    assert len(running) == len(set(running)) == 3
    [listed] = [
        s for s in cluster.ok("service", "ls", "--format", "json").json_lines()
        if s["Name"] == "everywhere"
    ]  # fmt: skip
    assert (listed["Mode"], listed["Replicas"]) == ("global", "3/3")
    cluster.ok("service", "rm", "everywhere")
