"""A node's assignments as Session messages of bounded size, without what the agent never reads."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace

from common import convert
from common.api import dispatcher_pb2 as pb
from common.api import types_pb2 as tpb
from common.message_limits import CHUNK_BYTES
from common.model import ContainerSpec, FileData, RegistryAuth, Task, TaskState

# A service's registry credentials, None for a service without any.
AuthOf = Callable[[str], RegistryAuth | None]

# Tasks a message holds at most, whatever their size: converting one message's tasks holds the
# event loop, and 1,000 small tasks take some tens of milliseconds where a megabyte of them
# (about 8,000) took close to a second on a busy machine, long enough to miss heartbeats.
CHUNK_TASKS = 1000


def for_agent(task: Task) -> Task:
    """A task that has ended keeps its slot's history for `service ps`, and its container (for
    logs) until the task goes; the agent only has to know it, not how to run it."""
    if not task.status.state.terminal:
        return task
    lean = ContainerSpec(image=task.spec.image, stop_grace_period=task.spec.stop_grace_period)
    return replace(task, spec=lean)


def still_to_run(task: Task) -> bool:
    """Whether the node may still have to start task: the one rule for what goes with a task
    to run, its secrets' and configs' data and its service's registry credentials. A task
    that has ended, or is to stop, gets neither."""
    return not task.status.state.terminal and task.desired_state <= TaskState.RUNNING


def _no_files(task: Task) -> Sequence[FileData]:
    return ()


class _Message:
    """One message's tasks, with the data and credentials they need, and its size so far."""

    def __init__(self) -> None:
        self.tasks: list[tpb.Task] = []
        self.data: dict[tuple[bool, str, int], pb.FileData] = {}
        self.auths: dict[str, pb.ServiceRegistryAuth] = {}
        # Services asked about already for this message, with credentials or not.
        self.asked: set[str] = set()
        self.size = 0

    def cost(
        self, msg: tpb.Task, task: Task, files: Sequence[FileData], auth_of: AuthOf | None
    ) -> tuple[int, list[pb.FileData], pb.ServiceRegistryAuth | None]:
        """What adding task would add: its bytes (with the data and credentials this message
        does not hold yet, each field's tag and length prefix counted generously), that data
        and those credentials."""
        data = [
            convert.file_data_to_pb(f)
            for f in files
            if (f.config, f.id, f.version) not in self.data
        ]
        auth = None
        if auth_of is not None and still_to_run(task) and task.service_id not in self.asked:
            found = auth_of(task.service_id)
            if found is not None:
                auth = pb.ServiceRegistryAuth(
                    service_id=task.service_id, auth=convert.registry_auth_to_pb(found)
                )
        extra = sum(d.ByteSize() + 8 for d in data) + (auth.ByteSize() + 8 if auth else 0)
        return msg.ByteSize() + 8 + extra, data, auth

    def add(
        self,
        msg: tpb.Task,
        task: Task,
        cost: int,
        data: list[pb.FileData],
        auth: pb.ServiceRegistryAuth | None,
    ) -> None:
        self.tasks.append(msg)
        for d in data:
            self.data[(d.config, d.id, d.version)] = d
        if still_to_run(task):
            self.asked.add(task.service_id)
        if auth is not None:
            self.auths[task.service_id] = auth
        self.size += cost

    def done(self, *, full: bool, more: bool, removed: Sequence[str] = ()) -> pb.Assignments:
        return pb.Assignments(
            full=full,
            tasks=self.tasks,
            removed=removed,
            more=more,
            files=list(self.data.values()),
            registry_auths=self.auths.values(),
        )


def assignments(
    tasks: Iterable[Task],
    removed: Sequence[str] = (),
    *,
    full: bool,
    limit: int = CHUNK_BYTES,
    max_tasks: int = CHUNK_TASKS,
    files: Callable[[Task], Sequence[FileData]] = _no_files,
    auth_of: AuthOf | None = None,
) -> Iterator[pb.Assignments]:
    """The messages that carry tasks and removed: each holds at most limit bytes (its tasks with
    the data and credentials they bring, or one task, should it alone be larger) and at most
    max_tasks tasks; all but the last say more. For each task still to run (still_to_run),
    files gives the secret and config data it needs and auth_of its service's registry
    credentials: each message carries those of its own tasks, and no others.

    Each message is made when it is due, not all of them first: the session sends one between
    the next's conversions, so a node with tens of thousands of tasks never holds the event loop
    (and every other node's heartbeats) for the whole set."""
    message = _Message()
    first = True
    for task in tasks:
        msg = convert.task_to_pb(for_agent(task))
        needed = files(task) if still_to_run(task) else ()
        cost, data, auth = message.cost(msg, task, needed, auth_of)
        if message.tasks and (message.size + cost > limit or len(message.tasks) == max_tasks):
            yield message.done(full=full and first, more=True)
            first = False
            message = _Message()
            # A new message holds none of the data or credentials the last one held.
            cost, data, auth = message.cost(msg, task, needed, auth_of)
        message.add(msg, task, cost, data, auth)
    yield message.done(full=full and first, more=False, removed=removed)
