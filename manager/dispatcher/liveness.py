"""Which nodes are alive: heartbeats kept in memory, node state written only when it changes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import replace

import structlog

from common.model import Node, NodeState
from manager.loops import attempt
from manager.store import Op, Put, ReadView, StateStore

log = structlog.get_logger("dispatcher.liveness")

MISSED_BEATS = 3
# After a manager start or a takeover, nodes get this many periods to reconnect before they
# count as down: their agents were with another process, which may have died a moment ago.
STARTUP_GRACE_BEATS = 6


class Liveness:
    """Heartbeats themselves are watched by each session; this tracks the nodes without one."""

    def __init__(self, store: StateStore, period: float) -> None:
        self._store = store
        self.period = period
        self._connected: set[str] = set()
        self._disconnected_at: dict[str, float] = {}
        self._started = time.monotonic()
        # The nodes that were up when this term began and have not had a session in it since.
        self._awaited: set[str] = set()

    def connected(self, node_id: str) -> None:
        self._connected.add(node_id)
        self._awaited.discard(node_id)
        self._disconnected_at.pop(node_id, None)

    def disconnected(self, node_id: str, *, down: bool) -> None:
        self._connected.discard(node_id)
        if not down:
            self._disconnected_at[node_id] = time.monotonic()

    async def set_state(
        self, node_id: str, state: NodeState, message: str, *, unless_connected: bool = False
    ) -> None:
        def plan(view: ReadView) -> Sequence[Op]:
            node = view.get(Node, node_id)
            if node is None or (node.state == state and node.message == message):
                return []
            # A sweep decided on a node without a session; one may have opened meanwhile.
            if unless_connected and node_id in self._connected:
                return []
            return [Put(replace(node, state=state, message=message))]

        if await self._store.transact(plan):
            log.info("node state", node_id=node_id, state=state.name, reason=message)

    async def run(self) -> None:
        """Mark DOWN the nodes that stayed disconnected, or never came back after a start.

        Runs while this manager leads (for one manager on SQLite, always). A term begins with
        every node that is not down awaited: its session was with the former leader, and it
        counts as down only once the grace period has passed without one here, so a failover
        never marks a healthy node down.
        """
        self._started = time.monotonic()
        # Sessions that ended under a former term of this manager get the grace period too.
        self._disconnected_at = {}
        self._awaited = {
            n.id
            for n in self._store.objects(Node)
            if n.state != NodeState.DOWN and n.id not in self._connected
        }
        while True:
            await asyncio.sleep(self.period / 2)
            now = time.monotonic()
            limit = now - MISSED_BEATS * self.period
            for node_id, since in [(n, t) for n, t in self._disconnected_at.items() if t < limit]:
                # A session may have opened, and removed the entry, during an earlier await.
                if self._disconnected_at.pop(node_id, None) is None:
                    continue
                marked = await attempt(
                    "node down",
                    self.set_state(
                        node_id,
                        NodeState.DOWN,
                        "no session for 3 heartbeat periods",
                        unless_connected=True,
                    ),
                    node_id=node_id,
                )
                # The next sweep tries again, unless a session opened meanwhile.
                if not marked and node_id not in self._connected:
                    self._disconnected_at.setdefault(node_id, since)
            if now - self._started > STARTUP_GRACE_BEATS * self.period:
                awaited, self._awaited = self._awaited, set()
                for node in self._store.objects(Node):
                    if node.id in self._connected or node.state == NodeState.DOWN:
                        continue
                    if node.state == NodeState.UNKNOWN or node.id in awaited:
                        marked = await attempt(
                            "node down",
                            self.set_state(
                                node.id, NodeState.DOWN, "did not reconnect", unless_connected=True
                            ),
                            node_id=node.id,
                        )
                        if not marked and node.id in awaited:
                            self._awaited.add(node.id)
