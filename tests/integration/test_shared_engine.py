"""Several nodes on one Docker engine (the manager and two agents, as this suite and `make demo`
run them): a service on a cluster network keeps to the one node that holds the network on that
engine, and a task no other node may take waits saying why, instead of being rejected on a node
again and again (issue 13)."""

from __future__ import annotations

from tests.integration.cluster import Cluster
from tests.waiting import SLEEPER, wait_for


def test_a_network_service_on_a_shared_engine(cluster: Cluster) -> None:
    cluster.ok("network", "create", "shared-net")
    try:
        cluster.ok(
            "service", "create", "-d", "--name", "onnet", "--replicas", "3",
            "--network", "shared-net", "local/busybox:latest", *SLEEPER,
        )  # fmt: skip
        running = wait_for(lambda: cluster.running("onnet", 3), "3 tasks running", 60)
        assert len({c["Labels"]["shoal.node.id"] for c in running}) == 1
        states = {t["CurrentState"].split()[0] for t in cluster.tasks("onnet")}
        assert states == {"Running"}

        # One task a node: the one node that holds the network on this engine takes one, and
        # the other must wait, saying why.
        cluster.ok(
            "service", "create", "-d", "--name", "spread", "--replicas", "2",
            "--replicas-max-per-node", "1", "--network", "shared-net",
            "local/busybox:latest", *SLEEPER,
        )  # fmt: skip

        def waits_saying_why() -> bool:
            errors = [t["Error"] for t in cluster.tasks("spread") if t["DesiredState"] == "Running"]
            return any(
                "network shared-net: another node on the same Docker engine holds it" in e
                for e in errors
            )

        wait_for(waits_saying_why, "a task pending on the shared engine", 60)
        assert cluster.running("spread", 1)
        tasks = [*cluster.tasks("onnet"), *cluster.tasks("spread")]
        assert not [t for t in tasks if t["CurrentState"].startswith("Rejected")]
    finally:
        cluster.shoal("service", "rm", "onnet", "spread")
        wait_for(lambda: cluster.shoal("network", "rm", "shared-net").code == 0, "net gone", 60)
