"""The log broker: subscriptions go down the sessions of the nodes that hold the containers,
lines come back on the nodes' PublishLogs streams and go on to the client.

A followed subscription takes on the service's tasks that start later, and is sent again to a
node whose session reopens, from where each task's lines stand.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import structlog

from common.errors import NotFound
from common.ids import new_id
from common.logs import (
    CancelLogs,
    LogError,
    LogLine,
    LogOptions,
    LogRequest,
    LogSource,
    PublishedLogs,
    ServiceLogs,
    SubscribeLogs,
    TaskLogs,
)
from common.model import Node, Service, Task
from manager.logbroker.subscription import Position, Stream, Subscription
from manager.store import Action, StateStore, Watch

log = structlog.get_logger("logbroker")

# The requests for one node's session.
Outgoing = asyncio.Queue[LogRequest]


class LogBroker:
    def __init__(self, store: StateStore) -> None:
        self._store = store
        self._sessions: dict[str, Outgoing] = {}
        self._subscriptions: dict[str, Subscription] = {}

    # -- node sessions ----------------------------------------------------------------------

    def attach(self, node_id: str) -> Outgoing:
        """A session of node_id opens: the requests for it, starting with the followed
        subscriptions it already had a part in."""
        queue: Outgoing = asyncio.Queue()
        self._sessions[node_id] = queue
        for sub in self._subscriptions.values():
            requests = sub.requests_for(node_id)
            if sub.follow and requests:
                self._send(queue, sub, requests)
                sub.asked.add(node_id)
        return queue

    def detach(self, node_id: str, queue: Outgoing) -> None:
        # A session replaced by a newer one leaves the node's requests to that one.
        if self._sessions.get(node_id) is not queue:
            return
        del self._sessions[node_id]
        for sub in list(self._subscriptions.values()):
            if sub.waits_for(node_id):
                self._fail(sub, node_id, "its session closed")

    @staticmethod
    def _send(queue: Outgoing, sub: Subscription, tasks: list[TaskLogs]) -> None:
        queue.put_nowait(SubscribeLogs(sub.id, sub.follow, tuple(tasks)))

    # -- clients ----------------------------------------------------------------------------

    async def subscribe(
        self, service_id: str, task_id: str, options: LogOptions
    ) -> AsyncIterator[ServiceLogs]:
        """The lines of a service's containers (or of one task's: task_id) until every node has
        sent what it has, or with follow until the caller stops reading."""
        sub = Subscription(new_id(), options, service_id, task_id)
        # Taken before the snapshot, with no await between: no task starts unseen.
        watch = self._store.watch() if sub.follow else None
        self._subscriptions[sub.id] = sub
        follower: asyncio.Task[None] | None = None
        try:
            for task in self._store.tasks_of_service(service_id):
                if sub.covers(task):
                    sub.add(task)
            nodes = sub.node_ids()
            for node_id in nodes:
                self._ask(sub, node_id, sub.requests_for(node_id))
            if not sub.follow and not nodes:
                sub.feed.end()
            if watch is not None:
                follower = asyncio.create_task(self._follow_tasks(sub, watch))
            log.info(
                "log subscription opened",
                subscription_id=sub.id,
                service_id=service_id,
                task_id=task_id or None,
                follow=sub.follow,
                nodes=len(nodes),
            )
            while (message := await sub.feed.get()) is not None:
                yield message
        finally:
            if follower is not None:
                follower.cancel()
            if watch is not None:
                watch.close()
            self._close(sub)

    def _ask(self, sub: Subscription, node_id: str, tasks: list[TaskLogs]) -> None:
        queue = self._sessions.get(node_id)
        if queue is None:
            self._report(sub, node_id, "node is not connected")
            return
        self._send(queue, sub, tasks)
        sub.asked.add(node_id)
        if not sub.follow:
            sub.wait_for(node_id, lambda: self._fail(sub, node_id, "no answer from its agent"))

    async def _follow_tasks(self, sub: Subscription, watch: Watch) -> None:
        while True:
            for event in await watch.next_batch():
                obj = event.obj
                if (
                    isinstance(obj, Service)
                    and obj.id == sub.service_id
                    and event.action is Action.DELETE
                ):
                    # Its tasks go with it; there is nothing left to follow.
                    sub.feed.end()
                    return
                if (
                    isinstance(obj, Task)
                    and event.action is not Action.DELETE
                    and sub.covers(obj)
                    and (request := sub.add(obj)) is not None
                ):
                    self._ask(sub, obj.node_id, [request])

    def _close(self, sub: Subscription) -> None:
        log.info("log subscription closed", subscription_id=sub.id)
        self._subscriptions.pop(sub.id, None)
        sub.close()
        cancel = CancelLogs(sub.id)
        for node_id in sub.asked:
            queue = self._sessions.get(node_id)
            if queue is not None:
                queue.put_nowait(cancel)

    def _fail(self, sub: Subscription, node_id: str, why: str) -> None:
        if sub.waits_for(node_id):
            self._report(sub, node_id, why)
            sub.done_with(node_id)

    def _report(self, sub: Subscription, node_id: str, message: str) -> None:
        error = LogError(self._node_name(node_id), message)
        sub.feed.put_nowait(ServiceLogs(errors=(error,)))

    def _node_name(self, node_id: str) -> str:
        node = self._store.get(Node, node_id)
        return node.description.hostname if node and node.description.hostname else node_id

    # -- agents -----------------------------------------------------------------------------

    async def publish(self, node_id: str, messages: AsyncIterator[PublishedLogs]) -> None:
        """Take one PublishLogs stream of node_id until it closes, or its subscription ends."""
        sub: Subscription | None = None
        positions: dict[Stream, Position] = {}
        async for message in messages:
            if sub is None:
                sub = self._subscriptions.get(message.subscription_id)
                if sub is None or node_id not in sub.asked:
                    raise NotFound(f"no log subscription {message.subscription_id} for this node")
                sub.opened(node_id)
            if not await self._forward(sub, node_id, message, positions):
                return
            if message.close:
                sub.done_with(node_id)
                return
        if sub is not None:
            self._fail(sub, node_id, "its log stream ended early")

    async def _forward(
        self,
        sub: Subscription,
        node_id: str,
        message: PublishedLogs,
        positions: dict[Stream, Position],
    ) -> bool:
        """Pass the new lines of message on; False once the client has gone."""
        sources: list[LogSource] = []
        lines: list[LogLine] = []
        for line in message.lines:
            if not sub.accept(node_id, line, positions):
                continue
            task = sub.announce(line.task_id)
            if task is not None:
                sources.append(
                    LogSource(
                        task_id=task.id,
                        service_name=task.service_name,
                        slot=task.slot,
                        node_id=node_id,
                        node_name=self._node_name(node_id),
                    )
                )
            lines.append(line)
        name = self._node_name(node_id)
        errors = tuple(LogError(name, e) for e in message.errors)
        if not lines and not errors:
            return not sub.feed.ended
        return await sub.feed.put(ServiceLogs(tuple(sources), tuple(lines), errors))
