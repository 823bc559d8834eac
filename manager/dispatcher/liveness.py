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
# count as down (their agents were with another process, which may have died a moment ago),
# and longer while others are still reconnecting (10,000 nodes take a while to come back), but
# never more than STARTUP_GRACE_LIMIT periods.
STARTUP_GRACE_BEATS = 6
STARTUP_GRACE_LIMIT = 60
# Heartbeats a second the manager asks of the whole cluster at most: past that the period it
# hands out grows with the number of nodes (as Nomad caps heartbeats), up to MAX_PERIOD, which
# still finds a lost node within 10 s (3 missed beats).
MAX_BEATS_PER_SECOND = 1000
MAX_PERIOD = 3.0
# How long a count of the nodes serves before it is taken again.
_COUNT_AGE = 1.0


def period_for(base: float, nodes: int) -> float:
    """The heartbeat period for a cluster of so many nodes: base up to MAX_BEATS_PER_SECOND
    beats a second, longer past that, never longer than MAX_PERIOD unless base is."""
    return max(base, min(nodes / MAX_BEATS_PER_SECOND, MAX_PERIOD))


class Liveness:
    """Heartbeats themselves are watched by each session; this tracks the nodes without one."""

    def __init__(self, store: StateStore, period: float) -> None:
        self._store = store
        self.period = period
        self._connected: set[str] = set()
        self._disconnected_at: dict[str, float] = {}
        self._started = time.monotonic()
        self._last_connect = self._started
        self._nodes = 0
        self._counted = -_COUNT_AGE
        # The nodes that were up when this term began and have not had a session in it since.
        self._awaited: set[str] = set()

    def session_period(self) -> float:
        """The period to hand a session opening now: it grows with the cluster."""
        at = time.monotonic()
        if at - self._counted >= _COUNT_AGE:
            self._nodes = len(self._store.objects(Node))
            self._counted = at
        return period_for(self.period, self._nodes)

    def _reconnecting(self, at: float) -> bool:
        """Whether nodes may still be coming back after this term began: within the grace, or
        while sessions keep opening (up to the limit)."""
        since_start = at - self._started
        if since_start <= STARTUP_GRACE_BEATS * self.session_period():
            return True
        quiet = at - self._last_connect > MISSED_BEATS * self.session_period()
        return not quiet and since_start <= STARTUP_GRACE_LIMIT * self.period

    def connected(self, node_id: str) -> None:
        self._last_connect = time.monotonic()
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
        self._last_connect = self._started
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
            limit = now - MISSED_BEATS * self.session_period()
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
            if not self._reconnecting(now):
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
