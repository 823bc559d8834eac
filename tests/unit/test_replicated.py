"""manager.orchestrator.replicated: the writes that bring a replicated service to its spec."""

from __future__ import annotations

import pytest

from common.model import Task, TaskState
from manager.orchestrator.slots import HISTORY_PER_SLOT, reconcile_removed
from tests.unit.builders import SERVICE_ID, SERVICE_NAME, at, service, task
from tests.unit.replicated_cases import NOW, ids, reconcile, running, slots


class TestNewService:
    def test_creates_one_task_per_slot(self) -> None:
        """A new service of 3 replicas gets tasks in slots 1, 2 and 3, and nothing else."""
        plan = reconcile(service(3), [])
        assert slots(plan.create) == [1, 2, 3]
        assert plan.shutdown == []
        assert plan.delete == []
        assert plan.exited == []

    def test_new_tasks_are_new_and_wanted_running(self) -> None:
        """New tasks carry the service's ID, name and container spec, are NEW (the allocator's
        next), unplaced."""
        svc = service(2, image="nginx:1.25")
        for new in reconcile(svc, []).create:
            assert new.service_id == SERVICE_ID
            assert new.service_name == SERVICE_NAME
            assert new.spec == svc.spec.container
            assert new.desired_state == TaskState.RUNNING
            assert new.status.state == TaskState.NEW
            assert new.status.timestamp == NOW
            assert new.node_id == ""
            assert new.meta.version == 0

    def test_new_tasks_have_distinct_ids(self) -> None:
        """Every created task has its own ID."""
        plan = reconcile(service(50), [])
        assert len(ids(plan.create)) == 50

    def test_zero_replicas(self) -> None:
        """A service of 0 replicas creates nothing."""
        plan = reconcile(service(0), [])
        assert plan.create == []

    def test_service_at_its_spec_is_left_alone(self) -> None:
        """Three live tasks for three replicas: no writes at all."""
        tasks = [running("a", 1), running("b", 2), task("c", 3)]
        plan = reconcile(service(3), tasks)
        assert (plan.create, plan.shutdown, plan.delete, plan.exited) == ([], [], [], [])


class TestExitedTask:
    @pytest.mark.parametrize(
        "state",
        [TaskState.FAILED, TaskState.COMPLETE, TaskState.REJECTED, TaskState.ORPHANED],
    )
    def test_exited_task_is_shut_down_and_replaced_in_its_slot(self, state: TaskState) -> None:
        """A task that ended while wanted running: desired SHUTDOWN, and a successor in its slot."""
        dead = task("dead", 2, node_id="n1", state=state)
        plan = reconcile(service(3), [running("a", 1), dead, running("c", 3)])
        assert [t for t, _ in plan.exited] == [dead]
        assert len(plan.shutdown) == 1
        stopped = plan.shutdown[0]
        assert stopped.id == "dead"
        assert stopped.desired_state == TaskState.SHUTDOWN
        assert stopped.status == dead.status  # its observed state stays what the agent said
        assert slots(plan.create) == [2]

    def test_held_slot_is_not_refilled(self) -> None:
        """While its restart is delayed, an exited task's slot stays empty."""
        dead = task("dead", 2, node_id="n1", state=TaskState.FAILED)
        plan = reconcile(service(3), [running("a", 1), dead, running("c", 3)], held={2})
        assert ids(plan.shutdown) == {"dead"}
        assert [t for t, _ in plan.exited] == [dead]
        assert plan.create == []

    def test_held_slot_is_not_replaced_by_another_slot(self) -> None:
        """A held slot does not push its replacement into a higher free slot."""
        dead = task("dead", 1, node_id="n1", state=TaskState.FAILED)
        plan = reconcile(service(2), [dead, running("b", 2)], held={1})
        assert plan.create == []

    def test_only_the_held_slot_waits(self) -> None:
        """Two exited slots, one held: only the other one is refilled."""
        tasks = [
            running("a", 1),
            task("d2", 2, node_id="n1", state=TaskState.FAILED),
            task("d3", 3, node_id="n1", state=TaskState.FAILED),
        ]
        plan = reconcile(service(3), tasks, held={2})
        assert slots(plan.create) == [3]
        assert ids(plan.shutdown) == {"d2", "d3"}

    def test_task_already_shut_down_is_not_reported_again(self) -> None:
        """A finished task whose desired state is already SHUTDOWN is neither exited nor stopped."""
        old = task("old", 1, node_id="n1", state=TaskState.FAILED, desired=TaskState.SHUTDOWN)
        plan = reconcile(service(1), [old, running("new", 1)])
        assert plan.exited == []
        assert plan.shutdown == []
        assert plan.create == []

    def test_task_being_stopped_does_not_occupy_its_slot(self) -> None:
        """A task wanted SHUTDOWN but still running does not count as a replica."""
        stopping = task("s", 1, node_id="n1", desired=TaskState.SHUTDOWN)
        plan = reconcile(service(1), [stopping])
        assert slots(plan.create) == [1]
        assert plan.shutdown == []


class TestScaleUp:
    def test_fills_the_lowest_free_slots(self) -> None:
        """Live in slots 1 and 3, scaled to 5: new tasks in slots 2, 4 and 5."""
        plan = reconcile(service(5), [running("a", 1), running("c", 3)])
        assert slots(plan.create) == [2, 4, 5]
        assert plan.shutdown == []

    def test_skips_held_slots(self) -> None:
        """Scale up leaves a held slot reserved and takes the next free ones."""
        plan = reconcile(service(4), [running("a", 1), running("c", 3)], held={2})
        assert slots(plan.create) == [4]

    def test_slot_of_a_finished_task_is_free(self) -> None:
        """A slot whose only task finished (and is no longer wanted) is reused."""
        old = task("old", 1, node_id="n1", state=TaskState.SHUTDOWN, desired=TaskState.SHUTDOWN)
        plan = reconcile(service(2), [old, running("b", 2), running("c", 3)])
        assert plan.create == []
        plan = reconcile(service(3), [old, running("b", 2)])
        assert slots(plan.create) == [1, 3]


class TestScaleDown:
    def test_unassigned_tasks_go_first(self) -> None:
        """Scaling down removes tasks not yet on a node before running ones."""
        tasks = [running("a", 1, "n1"), task("p", 2), running("c", 3, "n2")]
        plan = reconcile(service(2), tasks)
        assert ids(plan.shutdown) == {"p"}
        assert plan.create == []

    def test_unassigned_tasks_end_at_once(self) -> None:
        """A scaled-down task that no agent has is SHUTDOWN in both desired and observed state."""
        plan = reconcile(service(0), [task("p", 1)])
        [stopped] = plan.shutdown
        assert stopped.desired_state == TaskState.SHUTDOWN
        assert stopped.status.state == TaskState.SHUTDOWN
        assert stopped.status.message != ""

    def test_assigned_tasks_wait_for_their_agent(self) -> None:
        """A scaled-down task on a node keeps its observed state: the agent reports the stop."""
        for state in (TaskState.ASSIGNED, TaskState.STARTING, TaskState.RUNNING):
            plan = reconcile(service(0), [task("r", 1, node_id="n1", state=state)])
            [stopped] = plan.shutdown
            assert stopped.desired_state == TaskState.SHUTDOWN
            assert stopped.status.state == state

    def test_from_the_node_with_most_tasks_of_the_service(self) -> None:
        """The replica removed is on the node carrying most of the service, not the busiest one."""
        tasks = [running("a1", 1, "a"), running("a2", 2, "a"), running("b1", 3, "b")]
        plan = reconcile(service(2), tasks, load={"a": 2, "b": 50})
        assert [t.node_id for t in plan.shutdown] == ["a"]

    def test_then_from_the_most_loaded_node(self) -> None:
        """Between nodes with as many of the service, the one with most live tasks loses one."""
        tasks = [running("a1", 1, "a"), running("b1", 2, "b"), running("c1", 3, "c")]
        plan = reconcile(service(2), tasks, load={"a": 3, "b": 9, "c": 4})
        assert ids(plan.shutdown) == {"b1"}

    def test_removals_rebalance_as_they_go(self) -> None:
        """Removing several replicas takes them one at a time from the currently fullest node."""
        tasks = [
            running("a1", 1, "a"),
            running("a2", 2, "a"),
            running("a3", 3, "a"),
            running("b1", 4, "b"),
            running("b2", 5, "b"),
            running("c1", 6, "c"),
        ]
        plan = reconcile(service(3), tasks, load={"a": 3, "b": 2, "c": 1})
        removed = [t.node_id for t in plan.shutdown]
        assert sorted(removed) == ["a", "a", "b"]
        assert plan.create == []

    def test_scale_to_zero(self) -> None:
        """Scaled to zero, every live task is shut down."""
        tasks = [running("a", 1), running("b", 2, "n2"), task("p", 3)]
        plan = reconcile(service(0), tasks)
        assert ids(plan.shutdown) == {"a", "b", "p"}
        assert all(t.desired_state == TaskState.SHUTDOWN for t in plan.shutdown)


def history(slot: int, count: int, *, first: int = 0) -> list[Task]:
    """count finished tasks of one slot, created one minute apart, oldest first."""
    return [
        task(
            f"h{slot}-{i}",
            slot,
            node_id="n1",
            state=TaskState.FAILED,
            desired=TaskState.SHUTDOWN,
            created=at(60 * i),
        )
        for i in range(first, first + count)
    ]


class TestHistory:
    def test_keeps_five_per_slot(self) -> None:
        """A slot with a live task and six finished ones keeps the live one and the four newest."""
        old = history(1, 6)
        live = task("live", 1, node_id="n1", created=at(3600))
        plan = reconcile(service(1), [*old, live])
        assert HISTORY_PER_SLOT == 5
        assert ids(plan.delete) == {"h1-0", "h1-1"}

    def test_exactly_five_is_untouched(self) -> None:
        """A slot at the limit loses nothing."""
        plan = reconcile(service(1), [*history(1, 4), task("live", 1, node_id="n1", created=NOW)])
        assert plan.delete == []

    def test_each_slot_counts_separately(self) -> None:
        """The limit applies per slot, not per service."""
        tasks = [
            *history(1, 7),
            *history(2, 3),
            task("l1", 1, node_id="n1", created=NOW),
            task("l2", 2, node_id="n1", created=NOW),
        ]
        plan = reconcile(service(2), tasks)
        assert ids(plan.delete) == {"h1-0", "h1-1", "h1-2"}

    def test_unfinished_old_tasks_are_kept(self) -> None:
        """An old task that is still stopping is not deleted, however old."""
        stopping = task("stopping", 1, node_id="n1", desired=TaskState.SHUTDOWN, created=at(0))
        tasks = [stopping, *history(1, 5, first=1), task("live", 1, node_id="n1", created=NOW)]
        plan = reconcile(service(1), tasks)
        assert "stopping" not in ids(plan.delete)
        assert ids(plan.delete) == {"h1-1"}

    def test_a_task_exiting_now_can_be_trimmed(self) -> None:
        """A task that exits in this pass counts as finished for the history limit."""
        exited = task("exited", 1, node_id="n1", state=TaskState.FAILED, created=at(0))
        plan = reconcile(service(1), [exited, *history(1, 5, first=1)])
        assert "exited" in ids(plan.delete)
        assert [t for t, _ in plan.exited] == [exited]


class TestRemovedService:
    def test_stops_live_tasks(self) -> None:
        """Tasks of a removed service that run on a known node are told to shut down."""
        plan = reconcile_removed([running("a", 1, "n1"), running("b", 2, "n2")], {"n1", "n2"})
        assert ids(plan.shutdown) == {"a", "b"}
        assert all(t.desired_state == TaskState.SHUTDOWN for t in plan.shutdown)
        assert plan.delete == []

    def test_deletes_finished_tasks(self) -> None:
        """Finished tasks go away, whatever their desired state."""
        tasks = [
            task("f", 1, node_id="n1", state=TaskState.FAILED),
            task("s", 2, node_id="n1", state=TaskState.SHUTDOWN, desired=TaskState.SHUTDOWN),
            task("c", 3, node_id="n1", state=TaskState.COMPLETE),
        ]
        plan = reconcile_removed(tasks, {"n1"})
        assert ids(plan.delete) == {"f", "s", "c"}
        assert plan.shutdown == []

    def test_deletes_never_assigned_tasks(self) -> None:
        """Tasks that never reached a node are deleted at once: no agent will report them."""
        plan = reconcile_removed([task("p", 1), task("n", 2, state=TaskState.NEW)], {"n1"})
        assert ids(plan.delete) == {"p", "n"}
        assert plan.shutdown == []

    def test_deletes_tasks_on_unknown_nodes(self) -> None:
        """Tasks on a node that no longer exists are deleted: nobody will stop them."""
        plan = reconcile_removed([running("a", 1, "gone")], {"n1"})
        assert ids(plan.delete) == {"a"}
        assert plan.shutdown == []

    def test_tasks_already_stopping_are_left_to_finish(self) -> None:
        """A task already wanted SHUTDOWN and still running is neither stopped again nor deleted."""
        stopping = task("s", 1, node_id="n1", desired=TaskState.SHUTDOWN)
        plan = reconcile_removed([stopping], {"n1"})
        assert plan.shutdown == []
        assert plan.delete == []
