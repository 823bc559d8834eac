"""/metrics of a real cluster, parsed with prometheus_client's own parser: the counts agree with
`node ls` and `service ps`, and the counters move when a container dies and is replaced."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.cluster import Cluster, free_port
from tests.waiting import SLEEPER, wait_for

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(port: int) -> Samples:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
        text = answer.read().decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def total(samples: Samples, name: str, **labels: str) -> float:
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


@pytest.fixture(scope="module")
def metered(
    engine: docker.APIClient, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Cluster, list[int]]]:
    """A cluster whose manager and two agents each serve /metrics; their ports, manager first."""
    ports = [free_port() for _ in range(3)]
    root: Path = tmp_path_factory.mktemp("metered")
    c = Cluster(
        root=root,
        port=free_port(),
        engine=engine,
        manager_args=["--metrics-addr", f"127.0.0.1:{ports[0]}"],
    )
    try:
        c.start_manager()
        c.add_agent(1, "--metrics-addr", f"127.0.0.1:{ports[1]}")
        c.add_agent(2, "--metrics-addr", f"127.0.0.1:{ports[2]}")
        wait_for(lambda: c.all_ready(3), "3 ready nodes")
        yield c, ports
    finally:
        c.stop()


def _running_in_ps(cluster: Cluster, service: str) -> int:
    return sum(1 for t in cluster.tasks(service) if t["CurrentState"].startswith("Running"))


class TestMetrics:
    def test_counts_match_node_ls_and_service_ps(self, metered: tuple[Cluster, list[int]]) -> None:
        cluster, ports = metered
        cluster.ok("service", "create", "-d", "--name", "counted", "--replicas", "3",
                   "local/busybox:latest", *SLEEPER)  # fmt: skip
        wait_for(lambda: _running_in_ps(cluster, "counted") == 3, "3 running tasks")

        def counted() -> Samples | None:
            samples = scrape(ports[0])
            return samples if total(samples, "shoal_tasks", state="running") == 3 else None

        samples = wait_for(counted, "the manager's gauges to count 3 running tasks")
        nodes = cluster.nodes()
        assert total(samples, "shoal_nodes") == len(nodes) == 3
        ready = sum(1 for n in nodes if n["Status"] == "Ready")
        assert total(samples, "shoal_nodes", state="ready") == ready
        assert total(samples, "shoal_services", mode="replicated") == 1
        assert total(samples, "shoal_tasks") == len(cluster.tasks("counted"))
        assert total(samples, "shoal_dispatcher_sessions") == 3
        # Awaited as the manager started (its own node), until the start's grace ends.
        assert ("shoal_dispatcher_nodes_returning", frozenset()) in samples
        wait_for(
            lambda: total(scrape(ports[0]), "shoal_dispatcher_nodes_returning") == 0 or None,
            "no node awaited any more",
        )
        assert total(samples, "shoal_manager_leader") == 1
        created = total(samples, "shoal_control_requests_total", method="CreateService", code="OK")
        assert created == 1
        assert cluster.shoal("service", "inspect", "nosuch").code == 1
        missing = total(
            scrape(ports[0]), "shoal_control_requests_total", method="GetService", code="NOT_FOUND"
        )
        assert missing == 1
        assert total(samples, "shoal_scheduler_placement_latency_seconds_count") >= 3
        assert total(samples, "shoal_store_commit_duration_seconds_count") > 0
        # Each node started one container, the manager's own among them.
        for port in ports:
            assert total(scrape(port), "shoal_agent_container_starts_total") == 1

    def test_counters_move_when_a_container_is_killed_and_replaced(
        self, metered: tuple[Cluster, list[int]]
    ) -> None:
        cluster, ports = metered
        before = [scrape(p) for p in ports]
        victim = cluster.containers("counted")[0]
        cluster.engine.kill(victim["Id"])
        wait_for(
            lambda: (
                _running_in_ps(cluster, "counted") == 3
                and victim["Id"] not in {c["Id"] for c in cluster.containers("counted")}
            ),
            "a replacement running",
        )
        after = [scrape(p) for p in ports]

        def moved(name: str, **labels: str) -> float:
            return sum(total(a, name, **labels) - total(b, name, **labels)
                       for a, b in zip(after, before, strict=True))  # fmt: skip

        assert moved("shoal_agent_container_starts_total") == 1
        assert moved("shoal_agent_task_state_transitions_total", state="failed") == 1
        assert total(after[0], "shoal_tasks", state="failed") == 1
        assert total(after[0], "shoal_tasks", state="running") == 3
        assert moved("shoal_agent_engine_request_duration_seconds_count", operation="run") == 1
