"""manager.orchestrator.rebalance: which task to move to even a service's spread out."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

from common.model import Availability, Node, Service, Task, TaskState
from manager.orchestrator.rebalance import best_move
from manager.scheduler import Demand, NodeInfo
from tests.unit.builders import node, service, task


def layout(per_node: dict[str, int]) -> tuple[list[Task], list[NodeInfo]]:
    """Running tasks of the service, per_node[node] of them on each node, slots in order."""
    tasks: list[Task] = []
    for node_id, count in per_node.items():
        for _ in range(count):
            tasks.append(task(f"t{len(tasks) + 1}", len(tasks) + 1, node_id=node_id))
    return tasks, infos(tasks, [node(n) for n in per_node])


def infos(tasks: list[Task], nodes: list[Node]) -> list[NodeInfo]:
    return [NodeInfo(n, Counter(t.service_id for t in tasks if t.node_id == n.id)) for n in nodes]


def move(svc: Service, per_node: dict[str, int]) -> str | None:
    tasks, nodes = layout(per_node)
    chosen = best_move(svc, tasks, nodes, Demand())
    return chosen.node_id if chosen else None


class TestBestMove:
    def test_a_task_leaves_the_fullest_node_for_an_empty_one(self) -> None:
        assert move(service(6), {"a": 3, "b": 3, "c": 0}) in {"a", "b"}

    def test_nothing_moves_when_counts_differ_by_one_at_most(self) -> None:
        assert move(service(5), {"a": 2, "b": 2, "c": 1}) is None

    def test_a_node_that_may_not_take_tasks_is_no_target(self) -> None:
        tasks, nodes = layout({"a": 4, "b": 0})
        nodes[1] = replace(nodes[1], node=replace(nodes[1].node, availability=Availability.PAUSE))
        assert best_move(service(4), tasks, nodes, Demand()) is None

    def test_spread_groups_come_first(self) -> None:
        """Even per node (2/2/2) but zone x holds 4 and zone y 2: a task moves from x to y."""
        tasks, nodes = layout({"a": 2, "b": 2, "c": 2, "d": 0})
        zones = {"a": "x", "b": "x", "c": "y", "d": "y"}
        nodes = [replace(i, node=replace(i.node, labels={"zone": zones[i.node.id]})) for i in nodes]
        chosen = best_move(service(6), tasks, nodes, Demand(spread=("zone",)))
        assert chosen is not None
        assert chosen.node_id in {"a", "b"}

    def test_an_unsettled_service_waits(self) -> None:
        """A task still starting: no move until the service settles."""
        tasks, nodes = layout({"a": 3, "b": 0})
        tasks[0] = replace(tasks[0], status=replace(tasks[0].status, state=TaskState.STARTING))
        assert best_move(service(3), tasks, nodes, Demand()) is None

    def test_fewest_moves_even_out_the_spread(self) -> None:
        """Applying moves until none is left takes the minimum: 6 on one node of 3 -> 4 moves."""
        per_node = {"a": 6, "b": 0, "c": 0}
        svc = service(6)
        moves = 0
        while (source := move(svc, per_node)) is not None:
            target = min(per_node, key=lambda n: (per_node[n], n))
            per_node[source] -= 1
            per_node[target] += 1
            moves += 1
        assert moves == 4
        assert sorted(per_node.values()) == [2, 2, 2]
