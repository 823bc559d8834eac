"""The manager's gauges follow the store, and /metrics serves one registry in Prometheus' format."""

from __future__ import annotations

import asyncio
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

import pytest
from prometheus_client.parser import text_string_to_metric_families

from common.errors import InvalidArgument, Unavailable
from common.metrics_server import MetricsServer, parse
from common.model import Meta, Node, NodeState, Service, Task, TaskState, TaskStatus
from manager.cluster_gauges import ClusterGauges
from manager.metrics import ManagerMetrics
from manager.store import Delete, Put, SqliteStore
from tests.unit.builders import node, service, task
from tests.waiting import eventually

DEADLINE = 2.0
Obj = TypeVar("Obj", Node, Service, Task)


def sample(metrics: ManagerMetrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    opened = await SqliteStore.open(tmp_path / "store.db")
    yield opened
    await opened.close()


def fresh(obj: Obj) -> Obj:
    return replace(obj, meta=Meta())


class TestClusterGauges:
    async def test_counts_follow_creates_updates_and_deletes(self, store: SqliteStore) -> None:
        """Objects there at start are counted, and each change moves one count to another."""
        await store.commit([Put(fresh(node("n1"))), Put(fresh(service(2, service_id="s1")))])
        metrics = ManagerMetrics()
        loop = asyncio.create_task(ClusterGauges(store, metrics).run())
        try:
            await eventually(
                lambda: sample(metrics, "shoal_services", mode="replicated") == 1,
                "the gauges to follow",
                DEADLINE,
            )
            assert sample(metrics, "shoal_nodes", state="ready", availability="active") == 1
            stored = await store.commit(
                [
                    Put(fresh(task("t1", 1, node_id="n1"))),
                    Put(fresh(task("t2", 2, node_id="n1"))),
                    Put(fresh(task("t3", 3, err="no suitable node (1 node not available)"))),
                ]
            )
            await eventually(
                lambda: sample(metrics, "shoal_tasks", state="running") == 2,
                "the gauges to follow",
                DEADLINE,
            )
            assert sample(metrics, "shoal_tasks", state="pending") == 1
            assert sample(metrics, "shoal_scheduler_unplaceable_tasks") == 1
            t1 = stored[0]
            assert isinstance(t1, Task)
            failed = replace(t1, status=TaskStatus(TaskState.FAILED, t1.status.timestamp))
            await store.commit([Put(failed), Delete(stored[1])])
            await eventually(
                lambda: sample(metrics, "shoal_tasks", state="failed") == 1,
                "the gauges to follow",
                DEADLINE,
            )
            assert sample(metrics, "shoal_tasks", state="running") == 0
        finally:
            loop.cancel()

    async def test_a_node_going_down_is_counted_once(self, store: SqliteStore) -> None:
        [n1] = await store.commit([Put(fresh(node("n1")))])
        assert isinstance(n1, Node)
        metrics = ManagerMetrics()
        loop = asyncio.create_task(ClusterGauges(store, metrics).run())
        try:
            await eventually(
                lambda: sample(metrics, "shoal_nodes", state="ready", availability="active"),
                "the node counted",
                DEADLINE,
            )
            [down] = await store.commit([Put(replace(n1, state=NodeState.DOWN))])
            assert isinstance(down, Node)
            await store.commit([Put(replace(down, message="still down"))])
            await eventually(
                lambda: sample(metrics, "shoal_nodes", state="down", availability="active"),
                "the node counted down",
                DEADLINE,
            )
            assert sample(metrics, "shoal_nodes_marked_down_total") == 1
            assert sample(metrics, "shoal_nodes", state="ready", availability="active") == 0
        finally:
            loop.cancel()

    async def test_store_commits_are_timed_and_sized(self, store: SqliteStore) -> None:
        metrics = ManagerMetrics()
        store.on_commit = metrics.committed
        await store.commit([Put(fresh(node("n1"))), Put(fresh(node("n2")))])
        assert sample(metrics, "shoal_store_commit_duration_seconds_count") == 1
        assert sample(metrics, "shoal_store_commit_objects_sum") == 2


class TestMetricsServer:
    def test_serves_its_own_registry_in_prometheus_format(self) -> None:
        """Two managers in one process each serve their own figures, not a shared registry's."""
        first, second = ManagerMetrics(), ManagerMetrics()
        first.scheduler_passes.inc(3)
        servers = [MetricsServer.start(parse("127.0.0.1:0"), m.registry) for m in (first, second)]
        try:
            seen = []
            for server in servers:
                url = f"http://127.0.0.1:{server.port}/metrics"
                with urllib.request.urlopen(url, timeout=DEADLINE) as answer:
                    text = answer.read().decode()
                families = {f.name: f for f in text_string_to_metric_families(text)}
                [passes] = families["shoal_scheduler_passes"].samples[:1]
                seen.append(passes.value)
            assert seen == [3, 0]
        finally:
            for server in servers:
                server.close()

    @pytest.mark.parametrize("text", ["7464", "host", ":9100", "127.0.0.1:99999", "a:b"])
    def test_a_bad_address_is_refused(self, text: str) -> None:
        with pytest.raises(InvalidArgument, match=r"HOST:PORT|invalid port"):
            parse(text)

    def test_a_port_in_use_is_one_line(self) -> None:
        metrics = ManagerMetrics()
        taken = MetricsServer.start(parse("127.0.0.1:0"), metrics.registry)
        try:
            with pytest.raises(
                Unavailable, match=f"cannot serve metrics on 127.0.0.1:{taken.port}"
            ):
                MetricsServer.start(parse(f"127.0.0.1:{taken.port}"), metrics.registry)
        finally:
            taken.close()
