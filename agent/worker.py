"""Reconciles the tasks assigned to this node with the containers the engine has.

Each task is reconciled by at most one coroutine at a time; a change that arrives meanwhile
marks the task dirty and the same coroutine goes round again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import replace

import structlog

from agent.overlay import names
from agent.overlay.node_networks import Attachments
from agent.runtime.base import (
    HEALTH_STARTING,
    HEALTH_UNHEALTHY,
    NODE_LABEL,
    SERVICE_ID_LABEL,
    SERVICE_NAME_LABEL,
    SLOT_LABEL,
    TASK_LABEL,
    ContainerInfo,
    ContainerRuntime,
    RunSpec,
)
from common import templates
from common.errors import ShoalError
from common.model import DEFAULT_STOP_GRACE, Task, TaskState, TaskStatus, now

log = structlog.get_logger("worker")

NO_NETWORKS = Attachments()

Reporter = Callable[[str, TaskStatus], None]
# Makes a task's networks ready on this node; what its container joins.
Attacher = Callable[[tuple[str, ...]], Awaitable[Attachments]]


def stop_grace_seconds(task: Task) -> float:
    grace = task.spec.stop_grace_period
    return (DEFAULT_STOP_GRACE if grace is None else grace).total_seconds()


def run_spec(
    node_id: str, task: Task, node_hostname: str = "", attachments: Attachments = NO_NETWORKS
) -> RunSpec:
    labels = dict(task.spec.labels)
    labels.update(
        {
            NODE_LABEL: node_id,
            SERVICE_ID_LABEL: task.service_id,
            SERVICE_NAME_LABEL: task.service_name,
            TASK_LABEL: task.id,
            SLOT_LABEL: str(task.slot),
        }
    )
    name = f"{task.service_name}.{task.slot}.{task.id}"
    spec = task.spec
    hostname = templates.render(
        spec.hostname,
        {
            "Service.ID": task.service_id,
            "Service.Name": task.service_name,
            "Node.ID": node_id,
            "Node.Hostname": node_hostname,
            "Task.ID": task.id,
            "Task.Name": name,
            "Task.Slot": str(task.slot),
        },
    )
    return RunSpec(
        name=name,
        image=spec.image,
        args=spec.args,
        env=spec.env,
        labels=labels,
        nano_cpus=spec.limits.nano_cpus,
        memory_bytes=spec.limits.memory_bytes,
        hostname=hostname,
        entrypoint=spec.entrypoint,
        user=spec.user,
        workdir=spec.workdir,
        mounts=spec.mounts,
        ports=task.ports,
        stop_signal=spec.stop_signal,
        init=spec.init,
        read_only=spec.read_only,
        healthcheck=spec.healthcheck,
        networks=attachments.engine_networks,
        dns=attachments.dns,
    )


def network_addresses(info: ContainerInfo) -> dict[str, str]:
    """network ID -> the container's address on it, for the engine networks that are ours."""
    found = {}
    for engine_name, address in info.addresses.items():
        network_id = names.network_of(engine_name)
        if network_id is not None:
            found[network_id] = address
    return found


def exit_status(info: ContainerInfo) -> TaskStatus:
    if info.exit_code == 0:
        return TaskStatus(TaskState.COMPLETE, now(), "finished", container_id=info.id, exit_code=0)
    return TaskStatus(
        TaskState.FAILED,
        now(),
        "started",
        err=info.error or f"task: non-zero exit ({info.exit_code})",
        container_id=info.id,
        exit_code=info.exit_code,
    )


class Worker:
    def __init__(
        self,
        node_id: str,
        runtime: ContainerRuntime,
        report: Reporter,
        node_hostname: str = "",
        attach: Attacher | None = None,
    ) -> None:
        self.node_id = node_id
        self._attach = attach
        self.node_hostname = node_hostname
        self._runtime = runtime
        self._report_up = report
        self._assigned: dict[str, Task] = {}
        self._containers: dict[str, ContainerInfo] = {}
        self._reported: dict[str, TaskStatus] = {}
        self._have_assignments = False
        self._busy: set[str] = set()
        self._drivers: set[asyncio.Task[None]] = set()
        self._dirty: set[str] = set()
        self._log = log.bind(node_id=node_id)

    async def load(self) -> None:
        """Adopt what the engine runs for this node; nothing is touched until assignments come."""
        found = await self._runtime.containers(self.node_id)
        self._containers = {c.task_id: c for c in found if c.task_id}
        self._log.info("adopted containers", count=len(self._containers))

    @property
    def tasks(self) -> dict[str, Task]:
        return dict(self._assigned)

    def assign(self, tasks: Iterable[Task], removed: Iterable[str], *, full: bool) -> None:
        changed: set[str] = set()
        if full:
            # A new session: the manager's view may have missed reports, so they are made again.
            changed |= set(self._assigned) | set(self._containers)
            self._assigned = {}
            self._reported.clear()
            self._have_assignments = True
        for task in tasks:
            self._assigned[task.id] = task
            changed.add(task.id)
        for task_id in removed:
            self._assigned.pop(task_id, None)
            changed.add(task_id)
        for task_id in changed:
            self.kick(task_id)

    async def container_changed(self, container_id: str, task_id: str, action: str) -> None:
        """An engine event: refresh what we know of the container, then reconcile its task."""
        if not task_id:
            return
        known = self._containers.get(task_id)
        if action == "start" and known is not None and known.id == container_id and known.running:
            return  # our own start, already accounted for
        info = await self._runtime.inspect(container_id)
        if info is None:
            self._containers.pop(task_id, None)
        else:
            self._containers[task_id] = info
        self.kick(task_id)

    async def resync(self) -> None:
        """After the event stream broke: what changed meanwhile is read from the engine."""
        await self.load()
        for task_id in set(self._assigned) | set(self._containers):
            self.kick(task_id)

    def kick(self, task_id: str) -> None:
        if not self._have_assignments:
            return
        if task_id in self._busy:
            self._dirty.add(task_id)
            return
        self._busy.add(task_id)
        driver = asyncio.get_running_loop().create_task(self._drive(task_id))
        # The loop keeps only weak references to tasks; this set keeps drivers alive.
        self._drivers.add(driver)
        driver.add_done_callback(self._drivers.discard)

    async def _drive(self, task_id: str) -> None:
        try:
            while True:
                self._dirty.discard(task_id)
                try:
                    await self._reconcile(task_id)
                except ShoalError as exc:
                    self._log.warning("reconcile failed", task_id=task_id, error=str(exc))
                except Exception:
                    # A bug, not an engine answer: say so loudly, and keep the other tasks going.
                    self._log.exception("reconcile crashed", task_id=task_id)
                if task_id not in self._dirty:
                    return
        finally:
            self._busy.discard(task_id)

    def _report(self, task: Task, status: TaskStatus) -> None:
        last = self._reported.get(task.id)
        if last is not None and (last.state, last.container_id, last.err) == (
            status.state,
            status.container_id,
            status.err,
        ):
            return
        self._reported[task.id] = status
        self._log.info(
            "task state",
            task_id=task.id,
            service_id=task.service_id,
            state=status.state.name,
            err=status.err or None,
        )
        self._report_up(task.id, status)

    async def _reconcile(self, task_id: str) -> None:
        task = self._assigned.get(task_id)
        container = self._containers.get(task_id)
        if task is None:
            if container is not None:
                await self._runtime.remove(container.id)
                self._containers.pop(task_id, None)
                self._log.info("container removed", task_id=task_id, container_id=container.id)
            self._reported.pop(task_id, None)
            return
        if task.desired_state == TaskState.RUNNING:
            await self._keep_running(task, container)
        else:
            await self._shut_down(task, container)

    def _known_state(self, task: Task) -> TaskState:
        reported = self._reported.get(task.id)
        return max(task.status.state, reported.state if reported else TaskState.NEW)

    async def _keep_running(self, task: Task, container: ContainerInfo | None) -> None:
        known = self._known_state(task)
        if container is not None:
            # Once ended, the first reason given stands: a container stopped for being unhealthy
            # dies next, and that death is not news.
            if not known.terminal:
                await self._follow(task, container)
            return
        if known.terminal:
            return
        reported = self._reported.get(task.id)
        # A task waiting to be healthy has had a container while it was still STARTING.
        had_one = bool(task.status.container_id or (reported and reported.container_id))
        if known >= TaskState.RUNNING or had_one:
            self._report(
                task, TaskStatus(TaskState.FAILED, now(), "lost", err="container disappeared")
            )
            return
        await self._start(task)

    async def _start(self, task: Task) -> None:
        self._report(task, TaskStatus(TaskState.PREPARING, now(), "preparing"))
        try:
            await self._runtime.ensure_image(task.spec.image)
        except ShoalError as exc:
            self._report(
                task, TaskStatus(TaskState.REJECTED, now(), "preparing failed", err=str(exc))
            )
            return
        try:
            attachments = await self._attachments(task)
        except ShoalError as exc:
            self._report(
                task, TaskStatus(TaskState.REJECTED, now(), "preparing failed", err=str(exc))
            )
            return
        self._report(task, TaskStatus(TaskState.STARTING, now(), "starting"))
        try:
            started = await self._runtime.run(
                run_spec(self.node_id, task, self.node_hostname, attachments)
            )
        except ShoalError as exc:
            self._report(
                task, TaskStatus(TaskState.REJECTED, now(), "starting failed", err=str(exc))
            )
            return
        # An engine event about it may have come first, and knows better.
        await self._follow(task, self._containers.setdefault(task.id, started))

    async def _attachments(self, task: Task) -> Attachments:
        if not task.networks:
            return NO_NETWORKS
        if self._attach is None:
            raise ShoalError("this node cannot join cluster networks")
        return await self._attach(task.networks)

    async def _follow(self, task: Task, container: ContainerInfo) -> None:
        """Report what the container of a task wanted running is doing. A task with a health
        check runs only once healthy; an unhealthy container is stopped and its task failed."""
        if not container.running:
            self._report(task, exit_status(container))
        elif container.health == HEALTH_UNHEALTHY:
            await self._runtime.stop(container.id, stop_grace_seconds(task))
            # Not stopped a second time when the task is shut down before the die event comes.
            self._containers[task.id] = replace(container, running=False)
            self._report(
                task,
                TaskStatus(
                    TaskState.FAILED,
                    now(),
                    "unhealthy",
                    err="container unhealthy",
                    container_id=container.id,
                ),
            )
        elif container.health == HEALTH_STARTING:
            self._report(
                task,
                TaskStatus(TaskState.STARTING, now(), "starting", container_id=container.id),
            )
        else:
            self._report(
                task,
                TaskStatus(
                    TaskState.RUNNING,
                    now(),
                    "started",
                    container_id=container.id,
                    ports=container.ports,
                    addresses=network_addresses(container),
                ),
            )

    async def _shut_down(self, task: Task, container: ContainerInfo | None) -> None:
        if container is not None and container.running:
            await self._runtime.stop(container.id, stop_grace_seconds(task))
            self._containers[task.id] = ContainerInfo(
                container.id, task.id, running=False, exit_code=137
            )
        elif container is None and task.status.state.terminal:
            return
        if not task.status.state.terminal:
            cid = container.id if container else ""
            self._report(task, TaskStatus(TaskState.SHUTDOWN, now(), "shutdown", container_id=cid))
