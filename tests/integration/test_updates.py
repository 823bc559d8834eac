"""Service lifecycle on the real engine: create and update wait and say how they ended, rolling
updates keep enough replicas running, failures roll back or pause, rebalance evens out."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from tests.integration.cluster import Cluster
from tests.waiting import SLEEPER, wait_for

IMAGE = "local/busybox:latest"
FAST = ["--update-monitor", "1s", "--update-parallelism", "2"]


@contextmanager
def sampled(measure: Callable[[], int]) -> Iterator[list[int]]:
    """measure() every 20 ms in a thread while the block runs."""
    samples: list[int] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            samples.append(measure())
            done.wait(0.02)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield samples
    finally:
        done.set()
        thread.join(timeout=10)


def create(cluster: Cluster, name: str, *flags: str, command: list[str] | None = None) -> None:
    result = cluster.shoal(
        "service", "create", "--name", name, "--replicas", "6", *FAST, *flags, IMAGE,
        *(command or SLEEPER),
    )  # fmt: skip
    assert result.code == 0, result.err
    assert result.out.rstrip().endswith("verify: Service converged")


def env_of(cluster: Cluster, name: str) -> list[list[str]]:
    return sorted(
        sorted(cluster.engine.inspect_container(c["Id"])["Config"]["Env"] or [])
        for c in cluster.containers(name)
    )


@pytest.mark.parametrize(("order", "floor"), [("stop-first", 4), ("start-first", 6)])
def test_rolling_update_keeps_replicas_running(cluster: Cluster, order: str, floor: int) -> None:
    """6 replicas, parallelism 2: stop-first never runs fewer than 4, start-first never fewer
    than 6; the command waits, draws progress, exits 0, and every container has the new env."""
    name = f"roll-{order}"
    create(cluster, name, "--update-order", order)
    with sampled(lambda: len(cluster.containers(name))) as samples:
        result = cluster.shoal("service", "update", "--env-add", "RELEASE=2", name)
    assert result.code == 0, result.err
    assert "overall progress: 6 out of 6 tasks" in result.out
    assert result.out.rstrip().endswith("verify: Service converged")
    assert min(samples) >= floor
    assert len(env_of(cluster, name)) == 6
    assert all("RELEASE=2" in env for env in env_of(cluster, name))
    cluster.ok("service", "rm", name)


def test_a_failing_update_rolls_back_with_exit_3(cluster: Cluster) -> None:
    """An update to a command that exits 1, with --update-failure-action rollback: exit 3, the
    reason on stderr, and every task back on the old command."""
    create(cluster, "flaky", "--update-failure-action", "rollback")
    result = cluster.shoal("service", "update", "--args", "sh -c 'exit 1'", "flaky")
    assert result.code == 3, result.out
    assert "update rolled back due to failure or early termination" in result.err
    [inspected] = json.loads(cluster.ok("service", "inspect", "flaky").out)
    assert inspected["Spec"]["TaskTemplate"]["ContainerSpec"]["Args"] == SLEEPER
    wait_for(lambda: cluster.running("flaky", 6), "6 replicas of the old command")
    for container in cluster.containers("flaky"):
        assert cluster.engine.inspect_container(container["Id"])["Args"][-1] == SLEEPER[-1]
    cluster.ok("service", "rm", "flaky")


def test_an_update_that_never_gets_healthy_pauses(cluster: Cluster) -> None:
    """A health check that always fails: the first new tasks never count as running, the update
    pauses (the default failure action) with exit 3, and the old tasks keep running."""
    create(cluster, "sickly")
    result = cluster.shoal(
        "service", "update", "--health-cmd", "false", "--health-interval", "200ms",
        "--health-retries", "1", "--health-timeout", "1s", "sickly",
    )  # fmt: skip
    assert result.code == 3, result.out
    assert "update paused due to failure" in result.err
    [inspected] = json.loads(cluster.ok("service", "inspect", "sickly").out)
    assert inspected["UpdateStatus"]["State"] == "paused"
    assert len(cluster.containers("sickly")) >= 4
    cluster.ok("service", "rm", "sickly")


def test_an_unplaceable_create_times_out_with_exit_2_and_the_reason(cluster: Cluster) -> None:
    """create waits; with --timeout 3s and a reservation no node has, it exits 2 naming why."""
    result = cluster.shoal(
        "service", "create", "--name", "greedy", "--timeout", "3s",
        "--reserve-memory", "100000g", IMAGE, *SLEEPER,
    )  # fmt: skip
    assert result.code == 2
    assert "no suitable node (insufficient memory on 3 nodes)" in result.err
    assert "did not converge within 3 seconds" in result.err
    cluster.ok("service", "rm", "greedy")


def test_rebalance_evens_out_a_service_after_a_node_returns(cluster: Cluster) -> None:
    """6 replicas placed while one node was paused sit on two nodes; once it is active again,
    `service rebalance` moves two tasks to it, never running fewer than 6."""
    cluster.ok("node", "update", "--availability", "pause", "it-agent-2")
    create(cluster, "lopsided")
    cluster.ok("node", "update", "--availability", "active", "it-agent-2")
    with sampled(lambda: len(cluster.containers("lopsided"))) as samples:
        result = cluster.shoal("service", "rebalance", "lopsided")
    assert result.code == 0, result.err
    assert "rebalance completed: 2 tasks moved" in result.out

    def per_node() -> list[int] | None:
        counts: dict[str, int] = {}
        for c in cluster.containers("lopsided"):
            node = c["Labels"]["shoal.node.id"]
            counts[node] = counts.get(node, 0) + 1
        return sorted(counts.values()) if sorted(counts.values()) == [2, 2, 2] else None

    wait_for(per_node, "2 replicas on each node")
    assert min(samples) >= 6
    cluster.ok("service", "rm", "lopsided")
