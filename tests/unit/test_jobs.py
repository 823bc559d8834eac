"""Jobs in the orchestrator and in what clients are shown: a replicated job fills its completions
at most max_concurrent at a time, completed slots stay done, a new spec (or --force) runs the
job again; a global job completes once per node."""

from __future__ import annotations

from dataclasses import replace

from common.jobs import job_counts
from common.model import (
    Node,
    NodeState,
    RestartCondition,
    RestartPolicy,
    Service,
    ServiceMode,
    Task,
    TaskState,
)
from manager.orchestrator.global_service import reconcile_global
from tests.unit.builders import service, task
from tests.unit.replicated_cases import NOW, reconcile, slots


def job(completions: int, concurrent: int = 0) -> Service:
    svc = service(completions)
    spec = replace(
        svc.spec,
        mode=ServiceMode.REPLICATED_JOB,
        max_concurrent=concurrent,
        restart=RestartPolicy(RestartCondition.ON_FAILURE),
    )
    return replace(svc, spec=spec)


def done(task_id: str, slot: int, state: TaskState = TaskState.COMPLETE) -> Task:
    """A task that ended and, by its policy, stays ended (the orchestrator marked it so)."""
    ended = task(task_id, slot, node_id="n1", state=state, desired=TaskState.SHUTDOWN)
    return replace(ended, finished=True)


def test_a_new_job_starts_only_max_concurrent_tasks() -> None:
    assert slots(reconcile(job(5, 2), []).create) == [1, 2]
    assert slots(reconcile(job(3), []).create) == [1, 2, 3]


def test_a_completed_slot_lets_the_next_one_start() -> None:
    tasks = [done("a", 1), task("b", 2, node_id="n1")]
    assert slots(reconcile(job(5, 2), tasks).create) == [3]
    assert job_counts(job(5, 2), tasks).column() == "1/2 (1/5 completed)"


def test_an_exit_0_ends_the_slot_for_good() -> None:
    exited = task("a", 1, node_id="n1", state=TaskState.COMPLETE)
    plan = reconcile(job(1), [exited])
    assert plan.create == []
    assert [t.finished for t in plan.shutdown] == [True]


def test_a_completed_job_starts_nothing_and_is_done() -> None:
    tasks = [done(f"t{i}", i) for i in range(1, 6)]
    assert reconcile(job(5, 2), tasks).create == []
    counts = job_counts(job(5, 2), tasks)
    assert (counts.done, counts.failed, counts.column()) == (True, 0, "0/0 (5/5 completed)")


def test_force_runs_the_job_again() -> None:
    tasks = [done(f"t{i}", i) for i in range(1, 4)]
    forced = job(3, 2)
    forced = replace(forced, spec=replace(forced.spec, force_update=1))
    assert slots(reconcile(forced, tasks).create) == [1, 2]
    assert job_counts(forced, tasks).completed == 0


def test_a_slot_given_up_on_counts_as_failed() -> None:
    tasks = [done("a", 1, TaskState.FAILED), done("b", 2)]
    counts = job_counts(job(2), tasks)
    assert (counts.completed, counts.failed, counts.done) == (1, 1, True)


def test_a_global_job_completes_once_per_node() -> None:
    nodes = [Node(id=n, state=NodeState.READY) for n in ("n1", "n2")]
    svc = job(0)
    svc = replace(svc, spec=replace(svc.spec, mode=ServiceMode.GLOBAL_JOB))
    first = reconcile_global(svc, [], nodes, set(), NOW)
    assert sorted(t.node_id for t in first.create) == ["n1", "n2"]
    ended = [replace(done(f"g{n.id}", 0), node_id=n.id) for n in nodes]
    assert reconcile_global(svc, ended, nodes, set(), NOW).create == []
    assert job_counts(svc, ended).column() == "0/0 (2/2 completed)"
