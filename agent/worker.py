"""Reconciles the tasks assigned to this node with the containers the engine has: the loop
around agent/lifecycle.py's steps, carried out by a Controller.

Each task is reconciled by at most one coroutine at a time; a change that arrives meanwhile
marks the task dirty and the same coroutine goes round again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace

import structlog

from agent import lifecycle
from agent.controller import Attacher, ContainerController, Controller
from agent.lifecycle import Step
from agent.runtime.base import ContainerInfo, ContainerRuntime
from agent.task_files import TaskFiles, files_dir
from common.errors import ShoalError
from common.model import FileData, RegistryAuth, Task, TaskState, TaskStatus, now

log = structlog.get_logger("worker")

Reporter = Callable[[str, TaskStatus], None]

# Seconds between two reports of a pull's progress.
PROGRESS_PERIOD = 0.5


class Worker:
    def __init__(
        self,
        node_id: str,
        runtime: ContainerRuntime,
        report: Reporter,
        node_hostname: str = "",
        attach: Attacher | None = None,
        files: TaskFiles | None = None,
    ) -> None:
        """files: where the tasks' secrets and configs go (default: files_dir(node_id))."""
        self.node_id = node_id
        self._runtime = runtime
        self._files = files or TaskFiles(files_dir(node_id))
        self._controller: Controller = ContainerController(
            node_id, runtime, self._files, node_hostname, attach
        )
        self._report_up = report
        self._assigned: dict[str, Task] = {}
        self._containers: dict[str, ContainerInfo] = {}
        self._reported: dict[str, TaskStatus] = {}
        self._have_assignments = False
        self._busy: set[str] = set()
        self._drivers: set[asyncio.Task[None]] = set()
        self._dirty: set[str] = set()
        # service ID -> the registry credentials its tasks pull with, as the manager sent them.
        self._auths: dict[str, RegistryAuth] = {}
        self._log = log.bind(node_id=node_id)

    async def load(self) -> None:
        """Adopt what the engine runs for this node; nothing is touched until assignments come."""
        found = await self._runtime.containers(self.node_id)
        self._containers = {c.task_id: c for c in found if c.task_id}
        self._log.info("adopted containers", count=len(self._containers))

    @property
    def tasks(self) -> dict[str, Task]:
        return dict(self._assigned)

    def assign(
        self,
        tasks: Iterable[Task],
        removed: Iterable[str],
        *,
        full: bool,
        files: Iterable[FileData] = (),
        auths: Mapping[str, RegistryAuth] | None = None,
    ) -> None:
        """files: the secret and config data the tasks reference; auths: service ID -> registry
        credentials, for the services of tasks that pull."""
        self._files.hold(files)
        tasks = list(tasks)
        changed: set[str] = set()
        if full:
            # A new session: the manager's view may have missed reports. What it holds is in
            # the tasks, so a report is made again where the view differs, and only there: a
            # restarted manager of 10,000 nodes got every task's status again, unchanged.
            changed |= set(self._assigned) | set(self._containers)
            self._assigned = {}
            self._reported = {t.id: t.status for t in tasks}
            self._auths.clear()
            self._have_assignments = True
        self._auths.update(auths or {})
        for task in tasks:
            self._assigned[task.id] = task
            changed.add(task.id)
        for task_id in removed:
            self._assigned.pop(task_id, None)
            changed.add(task_id)
        self._files.keep_for(self._assigned.values())
        if full:
            self._files.keep_dirs(set(self._assigned))
        for task_id in changed:
            if not (full and self._settled(task_id)):
                self.kick(task_id)

    def _settled(self, task_id: str) -> bool:
        """Nothing to do or say: the task's container runs as the manager last heard. Its
        reconcile would change nothing, and skipping it keeps a session's start from queueing
        a coroutine for every task (one process of 1,000 hollow nodes queued 100,000)."""
        task = self._assigned.get(task_id)
        container = self._containers.get(task_id)
        if task is None or container is None or task_id in self._busy:
            return False
        step = lifecycle.next_step(task, self._reached(task), container, self._had_one(task))
        return step is Step.FOLLOW and _same(
            self._reported.get(task_id), lifecycle.observed(container)
        )

    async def stop(self) -> None:
        """Drive no task any more, and end the drives under way: the node is leaving."""
        self._have_assignments = False
        for driver in self._drivers:
            driver.cancel()
        await asyncio.gather(*self._drivers, return_exceptions=True)

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
        if _same(self._reported.get(task.id), status):
            return
        self._reported[task.id] = status
        if status.state.terminal:
            self._files.remove(task.id)
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
            self._reported.pop(task_id, None)
            self._files.remove(task_id)
            if container is not None:
                await self._controller.remove(container.id)
                self._containers.pop(task_id, None)
                self._log.info("container removed", task_id=task_id, container_id=container.id)
            return
        step = lifecycle.next_step(task, self._reached(task), container, self._had_one(task))
        if step is Step.START:
            await self._start(task)
        elif step is Step.FOLLOW and container is not None:
            await self._follow(task, container)
        elif step is Step.LOST:
            await self._lost(task)
        elif step is Step.STOP and container is not None:
            await self._controller.stop(task, container.id)
            self._containers[task_id] = ContainerInfo(
                container.id, task_id, running=False, exit_code=137
            )
            self._shut_down(task, container.id)
        elif step is Step.SHUT_DOWN:
            self._shut_down(task, container.id if container else "")

    async def _lost(self, task: Task) -> None:
        """Ask the engine for the container itself before calling it gone: a listing taken while
        it was being created (a resync racing a start) misses a container that runs, and a task
        must never fail for that."""
        reported = self._reported.get(task.id)
        container_id = (reported.container_id if reported else "") or task.status.container_id
        found = await self._runtime.inspect(container_id) if container_id else None
        if found is None:
            self._report(task, lifecycle.lost())
            return
        self._containers[task.id] = found
        await self._follow(task, found)

    def _reached(self, task: Task) -> TaskState:
        reported = self._reported.get(task.id)
        return max(task.status.state, reported.state if reported else TaskState.NEW)

    def _had_one(self, task: Task) -> bool:
        """Whether a container of task was seen: one that waits to be healthy has had a
        container while it was still STARTING."""
        reported = self._reported.get(task.id)
        return bool(task.status.container_id or (reported and reported.container_id))

    async def _start(self, task: Task) -> None:
        self._report(task, TaskStatus(TaskState.PREPARING, now(), "preparing"))
        told_at = -PROGRESS_PERIOD

        def pulling(percent: int) -> None:
            # Each report is a store write: a few a second per task at most, and the last.
            nonlocal told_at
            if percent < 100 and time.monotonic() - told_at < PROGRESS_PERIOD:
                return
            told_at = time.monotonic()
            message = f"pulling image ({percent}%)"
            self._report(task, TaskStatus(TaskState.PREPARING, now(), message))

        try:
            auth = self._auths.get(task.service_id)
            attachments = await self._controller.prepare(task, auth, pulling)
        except ShoalError as exc:
            self._failed(task, exc, "preparing")
            return
        self._report(task, TaskStatus(TaskState.STARTING, now(), "starting"))
        try:
            started = await self._controller.start(task, attachments)
        except ShoalError as exc:
            self._failed(task, exc, "starting")
            return
        # An engine event about it may have come first, and knows better.
        await self._follow(task, self._containers.setdefault(task.id, started))

    def _failed(self, task: Task, error: ShoalError, doing: str) -> None:
        status = lifecycle.failure(self._reached(task), error, doing)
        if status is None:
            self._log.warning("engine not answering: task waits", task_id=task.id, error=str(error))
            return
        self._report(task, status)

    async def _follow(self, task: Task, container: ContainerInfo) -> None:
        """Report what the container of a task wanted running is doing; an unhealthy one is
        stopped first."""
        status = lifecycle.observed(container)
        if container.running and status.state == TaskState.FAILED:
            await self._controller.stop(task, container.id)
            # Not stopped a second time when the task is shut down before the die event comes.
            self._containers[task.id] = replace(container, running=False)
        self._report(task, status)

    def _shut_down(self, task: Task, container_id: str) -> None:
        if not task.status.state.terminal:
            self._report(
                task, TaskStatus(TaskState.SHUTDOWN, now(), "shutdown", container_id=container_id)
            )


def _same(said: TaskStatus | None, status: TaskStatus) -> bool:
    """Whether status says nothing that said did not: only its time differs."""
    return said is not None and replace(said, timestamp=status.timestamp) == status
