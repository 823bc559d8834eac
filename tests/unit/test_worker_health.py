"""agent.worker and the container settings of a task: what reaches the engine, and how a
health check holds a task in STARTING until the engine says healthy."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from agent.runtime.base import HEALTH_STARTING, HEALTH_UNHEALTHY
from agent.runtime.fake import FakeContainer, FakeRuntime
from agent.worker import Worker
from common.model import ContainerSpec, HealthCheck, Mount, MountType, Task, TaskState
from tests.unit.builders import IMAGE, SERVICE_ID, SERVICE_NAME
from tests.unit.worker_harness import NODE, Harness, assigned, settle
from tests.waiting import eventually

# What the engine says of a container whose health check passes; the worker needs no name for
# it, since anything neither starting nor unhealthy runs.
HEALTHY = "healthy"

CHECKED = HealthCheck(test=("CMD-SHELL", "test -f /tmp/ok"), interval=timedelta(seconds=1))


def with_spec(task: Task, **container: object) -> Task:
    return replace(task, spec=replace(task.spec, **container))  # type: ignore[arg-type]


async def starting(h: Harness, task: Task) -> FakeContainer:
    """Assign task and wait until it is STARTING with its container; that container."""
    h.worker.assign([task], [], full=True)
    await eventually(
        lambda: any(s.state == TaskState.STARTING and s.container_id for s in h.statuses(task.id)),
        f"{task.id} STARTING with a container",
    )
    c = h.container_of(task.id)
    assert c is not None
    return c


async def health(h: Harness, c: FakeContainer, task_id: str, status: str) -> None:
    """The engine's verdict on c, and its event reaching the worker."""
    h.runtime.set_health(c.id, status)
    await h.worker.container_changed(c.id, task_id, "health_status")


class TestSettingsReachTheEngine:
    async def test_container_settings_and_a_rendered_hostname(self) -> None:
        """Entrypoint, user, workdir, mounts, stop signal, init, read-only and the health check
        go to the engine as given; the hostname template is rendered for the task and node."""
        h = Harness()
        h.worker = Worker(
            NODE, h.runtime, lambda tid, st: h.reports.append((tid, st)), node_hostname="host-a"
        )
        mounts = (Mount(MountType.BIND, "/data", source="/srv", read_only=True),)
        t = with_spec(
            assigned("t1", slot=4),
            hostname="{{.Service.Name}}-{{.Task.Slot}}.{{.Node.Hostname}}.{{.Node.ID}}",
            entrypoint=("sh", "-c"),
            user="nobody",
            workdir="/srv",
            mounts=mounts,
            stop_signal="SIGINT",
            init=True,
            read_only=True,
            healthcheck=CHECKED,
        )
        await starting(h, t)
        c = h.container_of("t1")
        assert c is not None
        assert c.spec.hostname == f"{SERVICE_NAME}-4.host-a.{NODE}"
        assert (c.spec.entrypoint, c.spec.user, c.spec.workdir) == (("sh", "-c"), "nobody", "/srv")
        assert (c.spec.mounts, c.spec.stop_signal) == (mounts, "SIGINT")
        assert (c.spec.init, c.spec.read_only, c.spec.healthcheck) == (True, True, CHECKED)

    async def test_every_template_field(self) -> None:
        """Service and task IDs and the task's name (the container's name) render too."""
        h = Harness()
        t = with_spec(assigned("t1"), hostname="{{.Service.ID}}/{{.Task.ID}}/{{.Task.Name}}")
        h.worker.assign([t], [], full=True)
        await h.reported("t1", TaskState.RUNNING)
        c = h.container_of("t1")
        assert c is not None
        assert c.spec.hostname == f"{SERVICE_ID}/t1/{c.spec.name}"

    async def test_stop_uses_the_tasks_grace_period(self) -> None:
        """Desired SHUTDOWN stops the container with the spec's grace period, else 10 s."""
        h = Harness()
        quick = with_spec(assigned("quick", slot=1), stop_grace_period=timedelta(seconds=2.5))
        plain = assigned("plain", slot=2)
        h.worker.assign([quick, plain], [], full=True)
        await h.reported("quick", TaskState.RUNNING)
        await h.reported("plain", TaskState.RUNNING)
        stopping = [replace(t, desired_state=TaskState.SHUTDOWN) for t in (quick, plain)]
        h.worker.assign(stopping, [], full=False)
        await h.reported("quick", TaskState.SHUTDOWN)
        await h.reported("plain", TaskState.SHUTDOWN)
        graces = {tid: c.stop_grace for tid in ("quick", "plain") if (c := h.container_of(tid))}
        assert graces == {"quick": 2.5, "plain": 10.0}


class TestHealth:
    async def test_running_only_once_healthy(self) -> None:
        """With a health check the task stays STARTING, with its container, until the engine
        reports it healthy; then it is RUNNING."""
        h = Harness()
        c = await starting(h, with_spec(assigned("t1"), healthcheck=CHECKED))
        assert c.health == HEALTH_STARTING
        await settle()
        assert TaskState.RUNNING not in h.states("t1")
        await health(h, c, "t1", HEALTHY)
        running = await h.reported("t1", TaskState.RUNNING)
        assert running.container_id == c.id
        assert h.states("t1") == [
            TaskState.PREPARING,
            TaskState.STARTING,
            TaskState.STARTING,
            TaskState.RUNNING,
        ]

    async def test_never_healthy_is_stopped_and_failed(self) -> None:
        """Unhealthy before ever being healthy: the container is stopped with the task's grace
        period and the task FAILED with `container unhealthy`, once, whatever events follow."""
        h = Harness()
        t = with_spec(assigned("t1"), healthcheck=CHECKED, stop_grace_period=timedelta(seconds=1))
        c = await starting(h, t)
        await health(h, c, "t1", HEALTH_UNHEALTHY)
        failed = await h.reported("t1", TaskState.FAILED)
        assert (failed.err, failed.container_id) == ("container unhealthy", c.id)
        assert (c.running, c.stop_grace) == (False, 1.0)
        await h.worker.container_changed(c.id, "t1", "die")
        await settle()
        assert h.states("t1").count(TaskState.FAILED) == 1
        assert h.last("t1").err == "container unhealthy"
        assert len(h.engine_calls("run")) == 1

    async def test_healthy_then_unhealthy_fails(self) -> None:
        """A RUNNING task whose container turns unhealthy is stopped and FAILED."""
        h = Harness()
        c = await starting(h, with_spec(assigned("t1"), healthcheck=CHECKED))
        await health(h, c, "t1", HEALTHY)
        await h.reported("t1", TaskState.RUNNING)
        await health(h, c, "t1", HEALTH_UNHEALTHY)
        failed = await h.reported("t1", TaskState.FAILED)
        assert failed.err == "container unhealthy"
        assert h.engine_calls("stop") == [f"stop {c.spec.name}"]

    async def test_exit_while_starting_is_the_exit(self) -> None:
        """A container that exits before its first verdict: FAILED with its exit code."""
        h = Harness()
        c = await starting(h, with_spec(assigned("t1"), healthcheck=CHECKED))
        h.runtime.exit(c.id, 2)
        await h.worker.container_changed(c.id, "t1", "die")
        failed = await h.reported("t1", TaskState.FAILED)
        assert (failed.exit_code, failed.err) == (2, "task: non-zero exit (2)")

    async def test_container_gone_while_starting_is_not_replaced_by_the_worker(self) -> None:
        """A STARTING task whose container is removed behind our back: FAILED, container
        disappeared; the worker starts no second container for it."""
        h = Harness()
        c = await starting(h, with_spec(assigned("t1"), healthcheck=CHECKED))
        await h.runtime.remove(c.id)
        await h.worker.container_changed(c.id, "t1", "destroy")
        failed = await h.reported("t1", TaskState.FAILED)
        assert failed.err == "container disappeared"
        assert len(h.engine_calls("run")) == 1

    async def test_the_images_own_health_check_counts(self) -> None:
        """An image with a HEALTHCHECK holds the task in STARTING too, unless the spec says
        NONE (--no-healthcheck), which makes it RUNNING at once."""
        h = Harness(runtime=FakeRuntime(checked_images={IMAGE}))
        c = await starting(h, assigned("own"))
        await settle()
        assert TaskState.RUNNING not in h.states("own")
        await health(h, c, "own", HEALTHY)
        await h.reported("own", TaskState.RUNNING)

        off = with_spec(assigned("off", slot=2), healthcheck=HealthCheck(test=("NONE",)))
        h.worker.assign([off], [], full=False)
        await h.reported("off", TaskState.RUNNING)
        off_container = h.container_of("off")
        assert off_container is not None
        assert off_container.health == ""

    async def test_adopted_unhealthy_container_fails_its_task(self) -> None:
        """After an agent restart, an adopted container found unhealthy fails its task."""
        h = Harness()
        c = h.adopt("t1")
        c.health = HEALTH_UNHEALTHY
        await h.worker.load()
        t = replace(
            assigned("t1", state=TaskState.RUNNING, container_id=c.id),
            spec=ContainerSpec(image=IMAGE, healthcheck=CHECKED),
        )
        h.worker.assign([t], [], full=True)
        failed = await h.reported("t1", TaskState.FAILED)
        assert failed.err == "container unhealthy"
        assert not c.running

    async def test_shutdown_after_unhealthy_does_not_stop_again(self) -> None:
        """The manager shutting the failed task down before the die event comes stops nothing
        twice and reports nothing more."""
        h = Harness()
        t = with_spec(assigned("t1"), healthcheck=CHECKED)
        c = await starting(h, t)
        await health(h, c, "t1", HEALTH_UNHEALTHY)
        failed = await h.reported("t1", TaskState.FAILED)
        h.worker.assign(
            [replace(t, desired_state=TaskState.SHUTDOWN, status=failed)], [], full=False
        )
        await settle()
        assert h.engine_calls("stop") == [f"stop {c.spec.name}"]
        assert h.states("t1")[-1] == TaskState.FAILED
