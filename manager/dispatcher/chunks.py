"""A node's assignments as Session messages of bounded size, without what the agent never reads."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace

from common import convert
from common.api import dispatcher_pb2 as pb
from common.api import types_pb2 as tpb
from common.message_limits import CHUNK_BYTES
from common.model import ContainerSpec, FileData, RegistryAuth, Task

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


def _no_files(task: Task) -> Sequence[FileData]:
    return ()


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
    """The messages that carry tasks and removed: each holds at most limit bytes of tasks (or
    one task, should it alone be larger) and at most max_tasks tasks; all but the last say
    more. files gives the secret and config data a task needs: each message carries that of
    its own tasks, so data goes only with a task that references it. With auth_of, a message
    also carries the registry credentials of the services whose tasks in it are still to run,
    and no others: a task that ended pulls nothing.

    Each message is made when it is due, not all of them first: the session sends one between
    the next's conversions, so a node with tens of thousands of tasks never holds the event loop
    (and every other node's heartbeats) for the whole set."""
    chunk: list[tpb.Task] = []
    data: dict[tuple[bool, str, int], pb.FileData] = {}
    auths: dict[str, pb.ServiceRegistryAuth] = {}
    # Services asked about already for this message, with credentials or not.
    asked: set[str] = set()
    size = 0
    first = True
    for task in tasks:
        msg = convert.task_to_pb(for_agent(task))
        needed = [f for f in files(task) if (f.config, f.id, f.version) not in data]
        # The field's tag and length prefix take a few bytes more than the task itself.
        cost = msg.ByteSize() + 8 + sum(len(f.data) + 64 for f in needed)
        if chunk and (size + cost > limit or len(chunk) == max_tasks):
            yield pb.Assignments(
                full=full and first,
                tasks=chunk,
                more=True,
                files=list(data.values()),
                registry_auths=auths.values(),
            )
            first = False
            chunk, size, data, auths, asked = [], 0, {}, {}, set()
            needed = list(files(task))
        chunk.append(msg)
        for f in needed:
            data[(f.config, f.id, f.version)] = convert.file_data_to_pb(f)
        size += cost
        if auth_of is not None and not task.status.state.terminal and task.service_id not in asked:
            asked.add(task.service_id)
            auth = auth_of(task.service_id)
            if auth is not None:
                auths[task.service_id] = pb.ServiceRegistryAuth(
                    service_id=task.service_id, auth=convert.registry_auth_to_pb(auth)
                )
    yield pb.Assignments(
        full=full and first,
        tasks=chunk,
        removed=removed,
        more=False,
        files=list(data.values()),
        registry_auths=auths.values(),
    )
