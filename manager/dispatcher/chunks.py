"""A node's assignments as Session messages of bounded size, without what the agent never reads."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace

from common import convert
from common.api import dispatcher_pb2 as pb
from common.api import types_pb2 as tpb
from common.message_limits import CHUNK_BYTES
from common.model import ContainerSpec, Task

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


def assignments(
    tasks: Iterable[Task],
    removed: Sequence[str] = (),
    *,
    full: bool,
    limit: int = CHUNK_BYTES,
    max_tasks: int = CHUNK_TASKS,
) -> Iterator[pb.Assignments]:
    """The messages that carry tasks and removed: each holds at most limit bytes of tasks (or
    one task, should it alone be larger) and at most max_tasks tasks; all but the last say
    more.

    Each message is made when it is due, not all of them first: the session sends one between
    the next's conversions, so a node with tens of thousands of tasks never holds the event loop
    (and every other node's heartbeats) for the whole set."""
    chunk: list[tpb.Task] = []
    size = 0
    first = True
    for task in tasks:
        msg = convert.task_to_pb(for_agent(task))
        # The field's tag and length prefix take a few bytes more than the task itself.
        cost = msg.ByteSize() + 8
        if chunk and (size + cost > limit or len(chunk) == max_tasks):
            yield pb.Assignments(full=full and first, tasks=chunk, more=True)
            first = False
            chunk, size = [], 0
        chunk.append(msg)
        size += cost
    yield pb.Assignments(full=full and first, tasks=chunk, removed=removed, more=False)
