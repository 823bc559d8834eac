"""One client's subscription: which tasks it covers, how far each task's lines have gone, and
which nodes it still waits for."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from common.logs import LogLine, LogOptions, TaskLogs
from common.model import Task
from manager.logbroker.feed import Feed

# A node that took a request yet never opened its stream (an agent that cannot serve logs, or a
# stuck one) is given up on after this long, so a command without --follow always ends.
ANSWER_TIMEOUT = 10.0

# (timestamp, how many lines of the same timestamp came before it on its stream)
Position = tuple[int, int]
# A task's output stream: stdout (False) or stderr (True). The engine stamps each stream's lines
# in order, but copies the two on threads of their own: a stderr line may come after stdout lines
# stamped later than it, so positions are counted per stream.
Stream = tuple[str, bool]


@dataclass
class _Cursor:
    """Where a task's lines stand on each of its streams, so a stream that starts over (after an
    agent reconnects) neither repeats nor skips a line: a line is new when its position is past
    the last one of its stream."""

    task: Task
    last: dict[bool, Position] = field(default_factory=dict)
    announced: bool = False


class Subscription:
    def __init__(
        self, subscription_id: str, options: LogOptions, service_id: str, task_id: str
    ) -> None:
        self.id = subscription_id
        self.follow = options.follow
        self.service_id = service_id
        self.task_id = task_id
        self._tail = options.tail
        self._since = options.since_ns
        self._cursors: dict[str, _Cursor] = {}
        # Without --follow: the nodes that have not sent all they have, each with its deadline
        # for opening a stream (None once it has).
        self._waiting: dict[str, asyncio.TimerHandle | None] = {}
        # The nodes that were asked, to be told when the client leaves.
        self.asked: set[str] = set()
        self.feed = Feed()

    def covers(self, task: Task) -> bool:
        """A task of ours with a container to read: it has a node and has started."""
        if task.service_id != self.service_id or (self.task_id and task.id != self.task_id):
            return False
        return bool(task.node_id and task.status.container_id)

    def add(self, task: Task) -> TaskLogs | None:
        """Take task on; what its node must be asked, or None when it was taken on already."""
        if task.id in self._cursors:
            return None
        self._cursors[task.id] = _Cursor(task)
        return self._request(self._cursors[task.id])

    def node_ids(self) -> set[str]:
        return {c.task.node_id for c in self._cursors.values()}

    def requests_for(self, node_id: str) -> list[TaskLogs]:
        """What node_id must be asked on a new session: each task from where its lines stand."""
        return [self._request(c) for c in self._cursors.values() if c.task.node_id == node_id]

    def _request(self, cursor: _Cursor) -> TaskLogs:
        task_id, container_id = cursor.task.id, cursor.task.status.container_id
        if cursor.last:
            # From the earliest of the streams' last lines on; the repeats are dropped by
            # position.
            since = min(stamp for stamp, _ in cursor.last.values())
            return TaskLogs(task_id, container_id, since_ns=since)
        return TaskLogs(task_id, container_id, tail=self._tail, since_ns=self._since)

    def accept(self, node_id: str, line: LogLine, positions: dict[Stream, Position]) -> bool:
        """Whether line is new, and its node's own to send; positions counts the lines of each
        stream of the upload it came on."""
        cursor = self._cursors.get(line.task_id)
        if cursor is None or cursor.task.node_id != node_id:
            return False
        stamp = line.timestamp_ns
        stream = (line.task_id, line.stderr)
        previous, index = positions.get(stream, (-1, 0))
        position = (stamp, index + 1 if stamp == previous else 0)
        positions[stream] = position
        if position < cursor.last.get(line.stderr, (-1, 0)):
            return False
        cursor.last[line.stderr] = (stamp, position[1] + 1)
        return True

    def announce(self, task_id: str) -> Task | None:
        """The task, the first time one of its lines goes to the client."""
        cursor = self._cursors[task_id]
        if cursor.announced:
            return None
        cursor.announced = True
        return cursor.task

    # -- waiting for nodes (without --follow) ----------------------------------------------

    def wait_for(self, node_id: str, give_up: Callable[[], None]) -> None:
        loop = asyncio.get_running_loop()
        self._waiting[node_id] = loop.call_later(ANSWER_TIMEOUT, give_up)

    def opened(self, node_id: str) -> None:
        timer = self._waiting.get(node_id)
        if timer is not None:
            timer.cancel()
            self._waiting[node_id] = None

    def waits_for(self, node_id: str) -> bool:
        return node_id in self._waiting

    def done_with(self, node_id: str) -> None:
        timer = self._waiting.pop(node_id, None)
        if timer is not None:
            timer.cancel()
        if not self.follow and not self._waiting:
            self.feed.end()

    def close(self) -> None:
        for timer in self._waiting.values():
            if timer is not None:
                timer.cancel()
        self._waiting.clear()
        self.feed.end()
