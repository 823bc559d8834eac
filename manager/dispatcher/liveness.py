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
# After a manager start, nodes get this many periods to reconnect before they count as down.
STARTUP_GRACE_BEATS = 6


class Liveness:
    """Heartbeats themselves are watched by each session; this tracks the nodes without one."""

    def __init__(self, store: StateStore, period: float) -> None:
        self._store = store
        self.period = period
        self._connected: set[str] = set()
        self._disconnected_at: dict[str, float] = {}
        self._started = time.monotonic()

    def connected(self, node_id: str) -> None:
        self._connected.add(node_id)
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
        """Mark DOWN the nodes that stayed disconnected, or never came back after a start."""
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
                for node in self._store.objects(Node):
                    if node.state == NodeState.UNKNOWN and node.id not in self._connected:
                        await attempt(
                            "node down",
                            self.set_state(
                                node.id, NodeState.DOWN, "did not reconnect", unless_connected=True
                            ),
                            node_id=node.id,
                        )
