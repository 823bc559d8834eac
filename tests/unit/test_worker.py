"""agent.worker against the fake runtime: assigned tasks vs the containers the engine has."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from agent.runtime.base import (
    NODE_LABEL,
    SERVICE_ID_LABEL,
    SERVICE_NAME_LABEL,
    SLOT_LABEL,
    TASK_LABEL,
    ContainerInfo,
)
from agent.runtime.fake import FakeRuntime
from common.model import ContainerSpec, TaskState, TaskStatus
from tests.unit.builders import IMAGE, SERVICE_ID, SERVICE_NAME
from tests.unit.worker_harness import NODE, Harness, assigned, running_task, settle
from tests.waiting import eventually


class TestBeforeAssignments:
    async def test_nothing_is_touched_before_the_first_full_assignment(self) -> None:
        """load(), an incremental assignment and engine events change nothing and report nothing.

        Only the first full assignment (a session's opening) lets the worker act.
        """
        h = Harness()
        stray = h.adopt("stray")
        await h.worker.load()
        h.worker.assign([assigned("t1")], [], full=False)
        await h.worker.container_changed(stray.id, "stray", "die")
        h.runtime.exit(stray.id, 1)
        await h.worker.container_changed(stray.id, "stray", "die")
        await settle()
        assert h.runtime.calls == []
        assert h.reports == []
        assert stray.id in h.runtime.containers_by_id

        h.worker.assign([], [], full=True)
        await eventually(lambda: stray.id not in h.runtime.containers_by_id, "stray removed")


class TestStart:
    async def test_starts_one_labelled_container_and_reports_progress(self) -> None:
        """A task desired RUNNING gets one container with the shoal labels and is reported
        PREPARING, STARTING, then RUNNING with the container's ID."""
        h = Harness()
        await h.worker.load()
        t = assigned("t1", slot=3)
        h.worker.assign([t], [], full=True)
        running = await h.reported("t1", TaskState.RUNNING)

        assert h.states("t1") == [TaskState.PREPARING, TaskState.STARTING, TaskState.RUNNING]
        assert len(h.runtime.containers_by_id) == 1
        [container] = h.runtime.containers_by_id.values()
        assert container.running
        assert running.container_id == container.id
        assert container.spec.image == IMAGE
        assert container.spec.labels[NODE_LABEL] == NODE
        assert container.spec.labels[SERVICE_ID_LABEL] == SERVICE_ID
        assert container.spec.labels[SERVICE_NAME_LABEL] == SERVICE_NAME
        assert container.spec.labels[TASK_LABEL] == "t1"
        assert container.spec.labels[SLOT_LABEL] == "3"
        assert len(h.engine_calls("run")) == 1

    async def test_args_env_and_user_labels_reach_the_container(self) -> None:
        """The container gets the task's args, env and labels alongside the shoal labels."""
        h = Harness()
        t = replace(
            assigned("t1"),
            spec=ContainerSpec(image=IMAGE, args=("sleep", "9"), env=("A=1",), labels={"x": "y"}),
        )
        h.worker.assign([t], [], full=True)
        await h.reported("t1", TaskState.RUNNING)
        c = h.container_of("t1")
        assert c is not None
        assert c.spec.args == ("sleep", "9")
        assert c.spec.env == ("A=1",)
        assert c.spec.labels["x"] == "y"
        assert c.spec.labels[TASK_LABEL] == "t1"

    async def test_start_event_of_its_own_container_changes_nothing(self) -> None:
        """The engine's start event for a container the worker just started adds no report."""
        h = Harness()
        _, c = await running_task(h)
        before = list(h.reports)
        await h.worker.container_changed(c.id, "t1", "start")
        await settle()
        assert h.reports == before
        assert len(h.engine_calls("run")) == 1

    async def test_pullable_image_is_pulled_then_run(self) -> None:
        """An image the engine lacks but can pull is pulled, then the task runs."""
        h = Harness(runtime=FakeRuntime(pullable={"registry/app:2"}))
        h.worker.assign([assigned("t1", image="registry/app:2")], [], full=True)
        await h.reported("t1", TaskState.RUNNING)
        assert h.engine_calls("pull") == ["pull registry/app:2"]

    async def test_unpullable_image_is_rejected_with_the_engine_error(self) -> None:
        """An image the engine cannot pull: REJECTED carrying the engine's message; no container."""
        h = Harness()
        h.worker.assign([assigned("t1", image="nowhere/nothing:1")], [], full=True)
        rejected = await h.reported("t1", TaskState.REJECTED)
        assert rejected.err == "pull access denied for nowhere/nothing:1, repository does not exist"
        assert h.states("t1") == [TaskState.PREPARING, TaskState.REJECTED]
        assert h.runtime.containers_by_id == {}

    async def test_an_engine_that_does_not_answer_leaves_the_task_to_wait(self) -> None:
        """The engine away while a task prepares: nothing is rejected; once the engine is back
        and the worker resyncs, the task runs."""
        h = Harness()
        h.runtime.down = True
        h.worker.assign([assigned("t1")], [], full=True)
        await h.reported("t1", TaskState.PREPARING)
        await settle()
        assert h.states("t1") == [TaskState.PREPARING]
        h.runtime.down = False
        await h.worker.resync()
        await h.reported("t1", TaskState.RUNNING)
        assert h.states("t1") == [TaskState.PREPARING, TaskState.STARTING, TaskState.RUNNING]

    async def test_each_task_gets_its_own_container(self) -> None:
        """Three tasks: three containers, each labelled with its own task."""
        h = Harness()
        h.worker.assign([assigned(f"t{i}", slot=i) for i in (1, 2, 3)], [], full=True)
        for i in (1, 2, 3):
            await h.reported(f"t{i}", TaskState.RUNNING)
        assert {h.container_of(f"t{i}") is not None for i in (1, 2, 3)} == {True}
        assert len(h.runtime.containers_by_id) == 3


class TestAdoption:
    async def test_adopted_running_container_is_not_started_again(self) -> None:
        """A container already running for the task before load() is adopted and reported
        RUNNING with its ID; no second container is started."""
        h = Harness()
        c = h.adopt("t1")
        await h.worker.load()
        h.worker.assign([assigned("t1", state=TaskState.RUNNING, container_id=c.id)], [], full=True)
        running = await h.reported("t1", TaskState.RUNNING)
        assert running.container_id == c.id
        assert h.engine_calls("run") == []
        assert list(h.runtime.containers_by_id) == [c.id]
        assert h.states("t1") == [TaskState.RUNNING]

    async def test_adopted_exited_container_is_reported_with_its_exit(self) -> None:
        """A container that exited while the agent was away is reported FAILED with its code."""
        h = Harness()
        c = h.adopt("t1", running=False, exit_code=2)
        await h.worker.load()
        h.worker.assign([assigned("t1", state=TaskState.RUNNING)], [], full=True)
        failed = await h.reported("t1", TaskState.FAILED)
        assert failed.exit_code == 2
        assert failed.container_id == c.id
        assert h.engine_calls("run") == []

    async def test_containers_of_unassigned_tasks_are_removed(self) -> None:
        """A full assignment without a container's task removes that container; others stay."""
        h = Harness()
        keep = h.adopt("keep")
        gone = h.adopt("gone")
        await h.worker.load()
        h.worker.assign([assigned("keep", state=TaskState.RUNNING)], [], full=True)
        await eventually(lambda: gone.id not in h.runtime.containers_by_id, "container removed")
        await h.reported("keep", TaskState.RUNNING)
        assert keep.id in h.runtime.containers_by_id
        assert h.statuses("gone") == []

    async def test_other_nodes_containers_are_not_touched(self) -> None:
        """Containers labelled for another node are neither adopted nor removed."""
        h = Harness()
        other = h.adopt("theirs")
        other.spec.labels[NODE_LABEL] = "node-b"
        await h.worker.load()
        h.worker.assign([], [], full=True)
        await settle()
        assert other.id in h.runtime.containers_by_id
        assert h.runtime.calls == []

    async def test_a_new_full_assignment_drops_tasks_it_omits(self) -> None:
        """After reconnecting, a full assignment without a task removes its container."""
        h = Harness()
        _, c = await running_task(h)
        h.worker.assign([], [], full=True)
        await eventually(lambda: c.id not in h.runtime.containers_by_id, "container removed")

    async def test_a_new_full_assignment_reports_again(self) -> None:
        """A new session's full assignment makes the worker report running tasks again."""
        h = Harness()
        t, c = await running_task(h)
        reports_before = len(h.reports)
        h.worker.assign([replace(t, status=TaskStatus(TaskState.RUNNING))], [], full=True)
        await eventually(lambda: len(h.reports) > reports_before, "a fresh report")
        assert h.last("t1").state == TaskState.RUNNING
        assert h.last("t1").container_id == c.id
        assert len(h.engine_calls("run")) == 1

    async def test_a_full_assignment_as_the_manager_last_heard_is_left_alone(self) -> None:
        """A new session's tasks whose statuses are what the worker would report: no report,
        and no reconcile at all (a restarted manager of 10,000 nodes got every status again);
        a task the manager holds differently is reported, as one whose container is gone."""
        h = Harness()
        t1, t2 = assigned("t1", slot=1), assigned("t2", slot=2)
        h.worker.assign([t1, t2], [], full=True)
        await h.reported("t1", TaskState.RUNNING)
        await h.reported("t2", TaskState.RUNNING)
        c2 = h.container_of("t2")
        assert c2 is not None
        heard = {tid: h.last(tid) for tid in ("t1", "t2")}
        h.runtime.calls.clear()
        reports = len(h.reports)
        await settle()
        coroutines = len(asyncio.all_tasks())
        h.worker.assign([replace(t, status=heard[t.id]) for t in (t1, t2)], [], full=True)
        assert len(asyncio.all_tasks()) == coroutines
        await settle()
        assert len(h.reports) == reports
        assert h.runtime.calls == []
        # The manager's view of t2 is older than its container (a report it missed).
        h.worker.assign(
            [replace(t1, status=heard["t1"]), replace(t2, status=TaskStatus(TaskState.STARTING))],
            [],
            full=True,
        )
        await eventually(lambda: len(h.reports) > reports, "t2 reported again")
        assert [tid for tid, _ in h.reports[reports:]] == ["t2"]
        assert h.last("t2").state == TaskState.RUNNING
        assert h.last("t2").container_id == c2.id


class TestShutdownAndRemoval:
    async def test_desired_shutdown_stops_and_reports(self) -> None:
        """Desired SHUTDOWN stops the running container and reports SHUTDOWN with its ID."""
        h = Harness()
        t, c = await running_task(h)
        h.worker.assign(
            [replace(t, desired_state=TaskState.SHUTDOWN, status=TaskStatus(TaskState.RUNNING))],
            [],
            full=False,
        )
        shutdown = await h.reported("t1", TaskState.SHUTDOWN)
        assert shutdown.container_id == c.id
        assert not c.running
        assert h.engine_calls("stop") == [f"stop {c.spec.name}"]
        assert c.id in h.runtime.containers_by_id  # stopped, kept until the task goes away

    async def test_stop_event_after_shutdown_adds_no_report(self) -> None:
        """The engine's die event for a container the worker stopped does not report again."""
        h = Harness()
        t, c = await running_task(h)
        h.worker.assign([replace(t, desired_state=TaskState.SHUTDOWN)], [], full=False)
        await h.reported("t1", TaskState.SHUTDOWN)
        count = len(h.reports)
        await h.worker.container_changed(c.id, "t1", "die")
        await settle()
        assert len(h.reports) == count

    async def test_task_assigned_already_shut_down_is_never_started(self) -> None:
        """A task whose desired state is SHUTDOWN from the start is reported SHUTDOWN, not run."""
        h = Harness()
        h.worker.assign([assigned("t1", desired=TaskState.SHUTDOWN)], [], full=True)
        await h.reported("t1", TaskState.SHUTDOWN)
        assert h.engine_calls("run") == []
        assert h.states("t1") == [TaskState.SHUTDOWN]

    async def test_incremental_removal_removes_the_container(self) -> None:
        """A task removed by an incremental assignment loses its container."""
        h = Harness()
        _, c = await running_task(h)
        h.worker.assign([], ["t1"], full=False)
        await eventually(lambda: c.id not in h.runtime.containers_by_id, "container removed")
        assert h.engine_calls("remove") == [f"remove {c.spec.name}"]
        assert "t1" not in h.worker.tasks

    async def test_removal_of_an_unknown_task_is_harmless(self) -> None:
        """Removing a task the worker never had touches nothing."""
        h = Harness()
        await running_task(h)
        h.worker.assign([], ["never-seen"], full=False)
        await settle()
        assert h.engine_calls("remove") == []


class TestExits:
    async def test_non_zero_exit_is_failed(self) -> None:
        """A container exiting non-zero while wanted running: FAILED, its exit code and error."""
        h = Harness()
        _, c = await running_task(h)
        h.runtime.exit(c.id, 3)
        await h.worker.container_changed(c.id, "t1", "die")
        failed = await h.reported("t1", TaskState.FAILED)
        assert failed.exit_code == 3
        assert "non-zero exit" in failed.err
        assert "3" in failed.err
        assert failed.container_id == c.id

    async def test_zero_exit_is_complete(self) -> None:
        """A container exiting 0: COMPLETE, exit code 0, no error."""
        h = Harness()
        _, c = await running_task(h)
        h.runtime.exit(c.id, 0)
        await h.worker.container_changed(c.id, "t1", "die")
        complete = await h.reported("t1", TaskState.COMPLETE)
        assert complete.exit_code == 0
        assert complete.err == ""

    async def test_exited_task_is_not_restarted_by_the_worker(self) -> None:
        """Restarting is the manager's decision: the worker starts no new container itself."""
        h = Harness()
        _, c = await running_task(h)
        h.runtime.exit(c.id, 1)
        await h.worker.container_changed(c.id, "t1", "die")
        await h.reported("t1", TaskState.FAILED)
        await settle()
        assert len(h.engine_calls("run")) == 1

    async def test_exit_is_reported_once(self) -> None:
        """Repeated events for the same dead container do not repeat the report."""
        h = Harness()
        _, c = await running_task(h)
        h.runtime.exit(c.id, 1)
        await h.worker.container_changed(c.id, "t1", "die")
        await h.reported("t1", TaskState.FAILED)
        await h.worker.container_changed(c.id, "t1", "die")
        await settle()
        assert h.states("t1").count(TaskState.FAILED) == 1

    async def test_container_gone_while_manager_says_running(self) -> None:
        """The manager thinks it RUNNING, yet no container: FAILED, container disappeared."""
        h = Harness()
        await h.worker.load()
        h.worker.assign([assigned("t1", state=TaskState.RUNNING)], [], full=True)
        failed = await h.reported("t1", TaskState.FAILED)
        assert failed.err == "container disappeared"
        assert h.engine_calls("run") == []

    async def test_container_removed_behind_the_workers_back(self) -> None:
        """A running task's container removed outside Shoal: FAILED, container disappeared."""
        h = Harness()
        _, c = await running_task(h)
        await h.runtime.remove(c.id)
        await h.worker.container_changed(c.id, "t1", "destroy")
        failed = await h.reported("t1", TaskState.FAILED)
        assert failed.err == "container disappeared"
        assert len(h.engine_calls("run")) == 1

    async def test_a_resync_listing_that_missed_a_running_container(self) -> None:
        """The engine's listing was taken while the container was being created, so it lacks
        it: the worker asks for the container itself, and the task stays running."""
        runtime = StaleListing()
        h = Harness(runtime=runtime)
        _, c = await running_task(h)
        runtime.stale = True
        await h.worker.resync()
        await settle()
        assert TaskState.FAILED not in h.states("t1")
        assert h.last("t1").state == TaskState.RUNNING
        assert runtime.containers_by_id[c.id].running
        assert len(h.engine_calls("run")) == 1
        runtime.stale = False
        await runtime.remove(c.id)
        await h.worker.container_changed(c.id, "t1", "destroy")
        assert (await h.reported("t1", TaskState.FAILED)).err == "container disappeared"

    async def test_events_without_a_task_are_ignored(self) -> None:
        """An engine event for a container that is not a task's changes nothing."""
        h = Harness()
        await running_task(h)
        count = len(h.reports)
        await h.worker.container_changed("someone-elses", "", "die")
        await settle()
        assert len(h.reports) == count


class StaleListing(FakeRuntime):
    """An engine whose container listing, while stale is set, predates every container."""

    stale = False

    async def containers(self, node_id: str) -> list[ContainerInfo]:
        found = await super().containers(node_id)
        return [] if self.stale else found
