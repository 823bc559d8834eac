"""The replicated orchestrator and the restart policy, and a drained node's tasks: which
ended tasks get a replacement in their slot, and when."""

from __future__ import annotations

from dataclasses import replace

import pytest

from common.model import RestartCondition, RestartPolicy, Service, Task, TaskState
from manager.orchestrator.replicated import reconcile_service
from tests.unit.builders import at, service, task
from tests.unit.replicated_cases import NOW, ids, reconcile, running, slots


def with_restart(svc: Service, policy: RestartPolicy) -> Service:
    """svc with its spec's restart policy set to policy."""
    return replace(svc, spec=replace(svc.spec, restart=policy))


# (condition, state) pairs where the policy leaves the task ended.
STAYS_ENDED = [
    (RestartCondition.NONE, TaskState.FAILED),
    (RestartCondition.NONE, TaskState.COMPLETE),
    (RestartCondition.NONE, TaskState.REJECTED),
    (RestartCondition.ON_FAILURE, TaskState.COMPLETE),
]


def ended(task_id: str, slot: int, state: TaskState = TaskState.FAILED) -> Task:
    """A task of slot that ran 40 s (from 950 s to 990 s after T0) and ended in state."""
    return task(task_id, slot, node_id="n1", state=state, created=at(950), status_at=at(990))


class TestRestartPolicy:
    @pytest.mark.parametrize(("condition", "state"), STAYS_ENDED)
    def test_task_the_policy_leaves_ended_is_not_replaced(
        self, condition: RestartCondition, state: TaskState
    ) -> None:
        """A task the policy does not restart is shut down and reported, and gets no successor."""
        svc = with_restart(service(3), RestartPolicy(condition=condition))
        dead = ended("dead", 2, state)
        plan = reconcile(svc, [running("a", 1), dead, running("c", 3)])
        [stopped] = plan.shutdown
        assert stopped.id == "dead"
        assert stopped.desired_state == TaskState.SHUTDOWN
        assert stopped.status == dead.status
        [(exited, decision)] = plan.exited
        assert exited == dead
        assert not decision.restart
        assert plan.create == []

    @pytest.mark.parametrize(("condition", "state"), STAYS_ENDED)
    def test_finished_slot_stays_unfilled_in_later_passes(
        self, condition: RestartCondition, state: TaskState
    ) -> None:
        """Once shut down, the finished task still counts as a replica: neither its slot nor
        another one gets a task, pass after pass."""
        svc = with_restart(service(2), RestartPolicy(condition=condition))
        [stopped] = reconcile(svc, [ended("dead", 1, state), running("b", 2)]).shutdown
        for _ in range(3):
            plan = reconcile(svc, [stopped, running("b", 2)])
            assert (plan.create, plan.shutdown, plan.delete, plan.exited) == ([], [], [], [])

    def test_on_failure_replaces_a_failed_task(self) -> None:
        """Condition ON_FAILURE: a FAILED task is replaced in its slot."""
        svc = with_restart(service(2), RestartPolicy(condition=RestartCondition.ON_FAILURE))
        plan = reconcile(svc, [ended("dead", 1, TaskState.FAILED), running("b", 2)])
        assert ids(plan.shutdown) == {"dead"}
        assert slots(plan.create) == [1]

    def test_none_still_replaces_a_task_of_a_lost_node(self) -> None:
        """Condition NONE: a task orphaned by its node going down is replaced in its slot."""
        svc = with_restart(service(2), RestartPolicy(condition=RestartCondition.NONE))
        tasks = [running("a", 1, "n1"), running("b", 2, "n2")]
        plan = reconcile_service(svc, tasks, {}, set(), NOW, {"n2": "node n2 is down"})
        [stopped] = plan.shutdown
        assert stopped.status.state == TaskState.ORPHANED
        assert slots(plan.create) == [2]

    def test_exhausted_max_attempts_says_why_and_is_not_replaced(self) -> None:
        """At max_attempts, the shut-down copy's error says the policy gave up (keeping the task's
        own error), and no replacement is created, then or later."""
        svc = with_restart(service(2), RestartPolicy(max_attempts=3))
        dead = replace(
            task(
                "dead",
                1,
                node_id="n1",
                state=TaskState.FAILED,
                created=at(950),
                status_at=at(990),
                err="task: non-zero exit (1)",
                exit_code=1,
            ),
            restart_streak=3,
            restart_times=(at(100), at(500), at(900)),
        )
        plan = reconcile(svc, [dead, running("b", 2)])
        [stopped] = plan.shutdown
        assert "gave up" in stopped.status.err
        assert "task: non-zero exit (1)" in stopped.status.err
        assert stopped.status.state == TaskState.FAILED
        assert stopped.desired_state == TaskState.SHUTDOWN
        assert plan.create == []
        later = reconcile(svc, [stopped, running("b", 2)])
        assert later.create == []
        assert later.shutdown == []

    def test_replacement_inherits_the_decisions_record(self) -> None:
        """A replacement carries its predecessor's streak plus one and its restart times plus the
        predecessor's end, exactly as the decision reported."""
        dead = replace(ended("dead", 1), restart_streak=2, restart_times=(at(900),))
        plan = reconcile(with_restart(service(1), RestartPolicy(max_attempts=5)), [dead])
        [(_, decision)] = plan.exited
        [new] = plan.create
        assert new.slot == 1
        assert new.restart_streak == decision.streak == 3
        assert new.restart_times == decision.times == (at(900), at(990))

    def test_replacement_after_a_hold_inherits_the_same_record(self) -> None:
        """A slot held through a backoff delay and filled in a later pass gets the same record as
        an immediate replacement would: the decision depends only on the ended task."""
        dead = replace(ended("dead", 1), restart_streak=2, restart_times=(at(900),))
        limited = with_restart(service(1), RestartPolicy(max_attempts=5))
        held = reconcile(limited, [dead], held={1})
        assert held.create == []
        [stopped] = held.shutdown
        [new] = reconcile(limited, [stopped]).create
        assert new.slot == 1
        assert new.restart_streak == 3
        assert new.restart_times == (at(900), at(990))

    def test_scaling_up_skips_the_finished_slot(self) -> None:
        """Scaled up, the service fills other free slots but not the one whose task finished."""
        policy = RestartPolicy(condition=RestartCondition.NONE)
        done = task("done", 1, node_id="n1", state=TaskState.COMPLETE, desired=TaskState.SHUTDOWN)
        done = replace(done, finished=True)
        plan = reconcile(with_restart(service(4), policy), [done, running("b", 2)])
        assert slots(plan.create) == [3, 4]

    def test_finished_slot_refills_when_the_policy_allows_it(self) -> None:
        """The policy is read afresh on every pass: once it restarts what the finished task ended
        with, the slot gets a task again."""
        done = task("done", 1, node_id="n1", state=TaskState.COMPLETE, desired=TaskState.SHUTDOWN)
        plan = reconcile(service(2), [done, running("b", 2)])
        assert slots(plan.create) == [1]

    def test_scaling_down_forgets_finished_slots_before_stopping_anything(self) -> None:
        """3 replicas, slot 3 finished for good: scaled to 1, slot 3 stops counting and only one
        of the two running tasks is stopped."""
        policy = RestartPolicy(condition=RestartCondition.NONE)
        done = replace(
            task("done", 3, node_id="n1", state=TaskState.FAILED, desired=TaskState.SHUTDOWN),
            finished=True,
        )
        plan = reconcile(with_restart(service(1), policy), [running("a", 1), running("b", 2), done])
        stopped = {t.id: t for t in plan.shutdown}
        assert stopped["done"].finished is False
        assert len([t for t in plan.shutdown if t.id in {"a", "b"}]) == 1
        assert plan.create == []

    def test_a_scaled_down_task_that_exits_on_its_own_does_not_hold_its_slot(self) -> None:
        """A task being stopped by a scale-down that fails before the stop is not 'finished':
        scaling back up fills its slot again."""
        policy = RestartPolicy(condition=RestartCondition.NONE)
        gone = task("gone", 2, node_id="n1", state=TaskState.FAILED, desired=TaskState.SHUTDOWN)
        plan = reconcile(with_restart(service(2), policy), [running("a", 1), gone])
        assert slots(plan.create) == [2]


class TestDrain:
    def test_tasks_on_a_draining_node_are_stopped_and_replaced(self) -> None:
        """A draining node's live tasks get desired Shutdown and new tasks take their slots."""
        tasks = [running("a", 1, "n1"), running("b", 2, "n2")]
        plan = reconcile_service(service(2), tasks, {}, set(), at(0), None, frozenset({"n2"}))
        assert [t.id for t in plan.shutdown] == ["b"]
        assert plan.shutdown[0].desired_state == TaskState.SHUTDOWN
        assert slots(plan.create) == [2]

    def test_nothing_moves_when_no_node_drains(self) -> None:
        """Without draining nodes a converged service is left as it is."""
        tasks = [running("a", 1, "n1"), running("b", 2, "n2")]
        plan = reconcile_service(service(2), tasks, {}, set(), at(0), None, frozenset())
        assert (plan.shutdown, plan.create) == ([], [])
