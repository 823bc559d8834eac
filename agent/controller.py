"""What running one task's container takes on this node, behind a small interface (swarmkit's
exec.Controller): prepare (its image, its networks), start, stop, remove. The worker decides
when (agent/lifecycle.py); the controller only does."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Protocol

from agent.overlay.node_networks import Attachments
from agent.pulls import Pulls
from agent.runtime.base import (
    NODE_LABEL,
    SERVICE_ID_LABEL,
    SERVICE_NAME_LABEL,
    SLOT_LABEL,
    TASK_LABEL,
    ContainerInfo,
    ContainerRuntime,
    PullProgress,
    RunSpec,
)
from agent.task_files import TaskFiles
from common import templates
from common.errors import ShoalError
from common.model import DEFAULT_STOP_GRACE, Mount, RegistryAuth, Task

NO_NETWORKS = Attachments()

# Makes a task's networks ready on this node; what its container joins.
Attacher = Callable[[tuple[str, ...]], Awaitable[Attachments]]


class Controller(Protocol):
    async def prepare(
        self, task: Task, auth: RegistryAuth | None, progress: PullProgress
    ) -> Attachments:
        """The task's image present (pulled with auth, telling progress how far the pull came)
        and its networks ready on this node."""
        ...

    async def start(self, task: Task, attachments: Attachments) -> ContainerInfo: ...

    async def stop(self, task: Task, container_id: str) -> None:
        """Within the task's stop grace period."""
        ...

    async def remove(self, container_id: str) -> None: ...


def stop_grace_seconds(task: Task) -> float:
    grace = task.spec.stop_grace_period
    return (DEFAULT_STOP_GRACE if grace is None else grace).total_seconds()


def run_spec(
    node_id: str,
    task: Task,
    node_hostname: str = "",
    attachments: Attachments = NO_NETWORKS,
    files: tuple[Mount, ...] = (),
) -> RunSpec:
    """files: the bind mounts of the task's secrets and configs."""
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
        mounts=spec.mounts + files,
        ports=task.ports,
        stop_signal=spec.stop_signal,
        init=spec.init,
        read_only=spec.read_only,
        healthcheck=spec.healthcheck,
        networks=attachments.engine_networks,
        dns=attachments.dns,
    )


class ContainerController:
    """Tasks as containers of a ContainerRuntime, labelled for this node."""

    def __init__(
        self,
        node_id: str,
        runtime: ContainerRuntime,
        files: TaskFiles,
        node_hostname: str = "",
        attach: Attacher | None = None,
    ) -> None:
        self._node_id = node_id
        self._files = files
        self._runtime = runtime
        self._node_hostname = node_hostname
        self._attach = attach
        self._pulls = Pulls(runtime)

    async def prepare(
        self, task: Task, auth: RegistryAuth | None, progress: PullProgress
    ) -> Attachments:
        await self._pulls.ensure(task.spec.image, auth, progress)
        if not task.networks:
            return NO_NETWORKS
        if self._attach is None:
            raise ShoalError("this node cannot join cluster networks")
        return await self._attach(task.networks)

    async def start(self, task: Task, attachments: Attachments) -> ContainerInfo:
        files: tuple[Mount, ...] = ()
        if task.spec.secrets or task.spec.configs:
            # File I/O and maybe a mount: off the event loop.
            files = await asyncio.to_thread(self._files.write, task)
        return await self._runtime.run(
            run_spec(self._node_id, task, self._node_hostname, attachments, files)
        )

    async def stop(self, task: Task, container_id: str) -> None:
        await self._runtime.stop(container_id, stop_grace_seconds(task))

    async def remove(self, container_id: str) -> None:
        await self._runtime.remove(container_id)
