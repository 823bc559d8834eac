"""A node's assignments as Session messages of bounded size, without what the agent never reads."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace

from common import convert
from common.api import dispatcher_pb2 as pb
from common.api import types_pb2 as tpb
from common.message_limits import CHUNK_BYTES
from common.model import ContainerSpec, Task


def for_agent(task: Task) -> Task:
    """A task that has ended keeps its slot's history for `service ps`, and its container (for
    logs) until the task goes; the agent only has to know it, not how to run it."""
    if not task.status.state.terminal:
        return task
    lean = ContainerSpec(image=task.spec.image, stop_grace_period=task.spec.stop_grace_period)
    return replace(task, spec=lean)


def assignments(
    tasks: Iterable[Task], removed: Sequence[str] = (), *, full: bool, limit: int = CHUNK_BYTES
) -> Iterator[pb.Assignments]:
    """The messages that carry tasks and removed: each holds at most limit bytes of tasks (or
    one task, should it alone be larger), all but the last say more."""
    chunks: list[list[tpb.Task]] = [[]]
    size = 0
    for task in tasks:
        msg = convert.task_to_pb(for_agent(task))
        # The field's tag and length prefix take a few bytes more than the task itself.
        cost = msg.ByteSize() + 8
        if chunks[-1] and size + cost > limit:
            chunks.append([])
            size = 0
        chunks[-1].append(msg)
        size += cost
    for index, chunk in enumerate(chunks):
        last = index == len(chunks) - 1
        yield pb.Assignments(
            full=full and index == 0,
            tasks=chunk,
            removed=removed if last else (),
            more=not last,
        )
