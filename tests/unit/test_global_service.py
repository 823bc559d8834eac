"""manager.orchestrator.global_service: one task on every node that can take the service."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from common.model import (
    Availability,
    Node,
    NodeState,
    Placement,
    RestartCondition,
    RestartPolicy,
    Service,
    ServiceMode,
    Task,
    TaskState,
)
from manager.orchestrator.global_service import reconcile_global
from manager.orchestrator.restart import SlotKey
from manager.orchestrator.slots import SlotPlan
from tests.unit.builders import at, node, service, task

NOW = at(1000)


def global_service(*constraints: str, restart: RestartPolicy | None = None) -> Service:
    base = service(0)
    spec = replace(
        base.spec,
        mode=ServiceMode.GLOBAL,
        replicas=0,
        placement=Placement(constraints=constraints),
        restart=restart or RestartPolicy(),
    )
    return replace(base, spec=spec)


def reconcile(
    nodes: Iterable[Node],
    tasks: Iterable[Task] = (),
    *,
    svc: Service | None = None,
    held: set[SlotKey] | None = None,
    lost: dict[str, str] | None = None,
) -> SlotPlan:
    return reconcile_global(
        svc or global_service(), list(tasks), list(nodes), held or set(), NOW, lost
    )


def on(tasks: Iterable[Task]) -> list[str]:
    return sorted(t.node_id for t in tasks)


def labelled(node_id: str, **labels: str) -> Node:
    return replace(node(node_id), labels=labels)


class TestOneTaskPerNode:
    def test_every_ready_node_gets_a_pinned_new_task(self) -> None:
        """Three nodes, no tasks: three NEW tasks (the allocator's next) in slot 0, each naming
        its node."""
        plan = reconcile([node("a"), node("b"), node("c")])
        assert on(plan.create) == ["a", "b", "c"]
        for new in plan.create:
            assert new.slot == 0
            assert new.status.state == TaskState.NEW
            assert new.desired_state == TaskState.RUNNING
        assert plan.shutdown == []

    def test_a_node_with_a_live_task_gets_no_other(self) -> None:
        """A node already running the service's task is left alone."""
        plan = reconcile([node("a"), node("b")], [task("t1", 0, node_id="a")])
        assert on(plan.create) == ["b"]
        assert plan.shutdown == []

    def test_a_node_not_yet_ready_still_gets_its_task(self) -> None:
        """A node in UNKNOWN state (just started) gets a task; the scheduler waits for it."""
        plan = reconcile([node("a", state=NodeState.UNKNOWN)])
        assert on(plan.create) == ["a"]

    def test_down_paused_drained_and_unfit_nodes_get_none(self) -> None:
        """Only the active node meeting the constraint gets a task."""
        nodes = [
            labelled("fit", zone="a"),
            replace(labelled("down", zone="a"), state=NodeState.DOWN),
            replace(labelled("paused", zone="a"), availability=Availability.PAUSE),
            replace(labelled("drained", zone="a"), availability=Availability.DRAIN),
            labelled("other", zone="b"),
        ]
        plan = reconcile(nodes, svc=global_service("node.labels.zone==a"))
        assert on(plan.create) == ["fit"]

    def test_a_newest_duplicate_is_kept(self) -> None:
        """Two live tasks on one node: the older is stopped."""
        old = task("old", 0, node_id="a", created=at(1))
        new = task("new", 0, node_id="a", created=at(2))
        plan = reconcile([node("a")], [old, new])
        assert [t.id for t in plan.shutdown] == ["old"]
        assert plan.create == []


class TestNodesChanging:
    def test_a_paused_node_keeps_its_task(self) -> None:
        """Pause keeps new tasks off but stops nothing."""
        paused = node("a", availability=Availability.PAUSE)
        plan = reconcile([paused], [task("t1", 0, node_id="a")])
        assert plan.shutdown == []
        assert plan.create == []

    def test_a_drained_node_has_its_task_stopped(self) -> None:
        """Drain stops the node's task and creates none in its place."""
        drained = node("a", availability=Availability.DRAIN)
        plan = reconcile(
            [drained, node("b")], [task("t1", 0, node_id="a"), task("t2", 0, node_id="b")]
        )
        assert [(t.id, t.desired_state) for t in plan.shutdown] == [("t1", TaskState.SHUTDOWN)]
        assert plan.create == []

    def test_a_node_that_loses_the_label_has_its_task_stopped(self) -> None:
        """The constraint decides which nodes keep their tasks, not only which get new ones."""
        plan = reconcile(
            [labelled("a", zone="b")],
            [task("t1", 0, node_id="a")],
            svc=global_service("node.labels.zone==a"),
        )
        assert [t.id for t in plan.shutdown] == ["t1"]
        assert plan.create == []

    def test_a_lost_node_has_its_task_orphaned_and_gets_no_new_one(self) -> None:
        """A node that is down: its task is orphaned with why, and nothing replaces it there."""
        down = node("a", state=NodeState.DOWN)
        plan = reconcile([down], [task("t1", 0, node_id="a")], lost={"a": "node a is down"})
        (stopped,) = plan.shutdown
        assert stopped.status.state == TaskState.ORPHANED
        assert stopped.status.err == "node a is down"
        assert stopped.desired_state == TaskState.SHUTDOWN
        assert plan.create == []

    def test_a_node_back_from_down_gets_a_new_task(self) -> None:
        """After its orphaned task was shut down, a node that is ready again gets a new one."""
        orphaned = task("t1", 0, node_id="a", state=TaskState.ORPHANED, desired=TaskState.SHUTDOWN)
        plan = reconcile([node("a")], [orphaned])
        assert on(plan.create) == ["a"]

    def test_tasks_of_a_removed_node_are_forgotten_once_stopped(self) -> None:
        """A node gone from the cluster leaves no history behind once its tasks ended."""
        ended = task("t1", 0, node_id="gone", state=TaskState.ORPHANED, desired=TaskState.SHUTDOWN)
        plan = reconcile([node("a")], [ended, task("t2", 0, node_id="a")])
        assert [t.id for t in plan.delete] == ["t1"]
        assert plan.create == []


class TestExits:
    def test_an_exited_task_is_replaced_on_its_node(self) -> None:
        """A task that failed is shut down and a new one is pinned to the same node."""
        failed = task("t1", 0, node_id="a", state=TaskState.FAILED, status_at=at(900))
        plan = reconcile([node("a")], [failed])
        assert [t.id for t in plan.shutdown] == ["t1"]
        (new,) = plan.create
        assert new.node_id == "a"
        assert new.restart_streak == 1
        assert [(t.id, d.restart) for t, d in plan.exited] == [("t1", True)]

    def test_a_held_node_waits_for_its_restart(self) -> None:
        """While the restart delay runs, the node gets no new task."""
        failed = task("t1", 0, node_id="a", state=TaskState.FAILED, status_at=at(900))
        plan = reconcile([node("a")], [failed], held={"a"})
        assert plan.create == []

    def test_condition_none_leaves_the_node_finished(self) -> None:
        """With --restart-condition none, a task that completed is not replaced, now or later."""
        svc = global_service(restart=RestartPolicy(condition=RestartCondition.NONE))
        done = task("t1", 0, node_id="a", state=TaskState.COMPLETE)
        first = reconcile([node("a")], [done], svc=svc)
        (finished,) = first.shutdown
        assert finished.finished
        assert first.create == []
        assert reconcile([node("a")], [finished], svc=svc).create == []
