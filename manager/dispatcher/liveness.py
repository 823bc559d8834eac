"""Which nodes are alive: heartbeats kept in memory, node state written only when it changes."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace

import structlog

from common.model import Node, NodeState
from manager.dispatcher.loop_lag import LoopLag
from manager.dispatcher.pace import Pace, moved, pace_for
from manager.loops import attempt
from manager.store import Op, Put, ReadView, StateStore

log = structlog.get_logger("dispatcher.liveness")

MISSED_BEATS = 3
# After a manager start or a takeover, nodes get this many periods to reconnect before they
# count as down (their agents were with another process, which may have died a moment ago),
# and longer while others are still reconnecting, but never more than STARTUP_GRACE_LIMIT
# periods, or the time for every awaited node to come back at RECONNECTS_PER_SECOND: 10,000
# nodes came in at 60-80 a second (bench.scale), and 60 s would have marked thousands down
# that were on their way.
STARTUP_GRACE_BEATS = 6
STARTUP_GRACE_LIMIT = 60
RECONNECTS_PER_SECOND = 20
# How long a count of the nodes serves before it is taken again.
_COUNT_AGE = 1.0


@dataclass
class Period:
    """A session's heartbeat period: the manager retells it while the session lasts."""

    seconds: float


class Liveness:
    """Heartbeats themselves are watched by each session; this tracks the nodes without one.

    Its waits are counted on the loop's own clock, which stands still while the manager's loop
    is held up: sessions that could not be read meanwhile are not nodes that stayed away."""

    def __init__(self, store: StateStore, period: float, lag: LoopLag) -> None:
        self._store = store
        self.period = period
        self._lag = lag
        self._connected: set[str] = set()
        # When each node's session ended, and whether the node had answered in it.
        self._disconnected_at: dict[str, tuple[float, bool]] = {}
        # The nodes whose current session brought a message.
        self._answered: set[str] = set()
        self._started = self._clock()
        self._last_connect = self._started
        self._grace_limit = STARTUP_GRACE_LIMIT * period
        self._nodes = 0
        self._counted = -_COUNT_AGE
        self._told = pace_for(period, 0)
        self._retold = asyncio.Event()
        # The nodes that were up when this term began and have not had a session in it since.
        self._awaited: set[str] = set()
        # Those nodes, with a session since or not, while the term is still reconnecting.
        self._returning: set[str] = set()
        # The nodes whose session waits its turn to open (manager/dispatcher/admission.py):
        # they are here, and not down however long the wait.
        self._knocking: Counter[str] = Counter()

    def session_pace(self) -> Pace:
        """The pace sessions are told now: it grows with the cluster."""
        at = time.monotonic()
        if at - self._counted >= _COUNT_AGE:
            self._nodes = len(self._store.objects(Node))
            self._counted = at
            wanted = pace_for(self.period, self._nodes)
            if moved(self._told, wanted, self.period):
                self._told = wanted
                self._retold.set()
                self._retold = asyncio.Event()
        return self._told

    def session_period(self) -> float:
        return self.session_pace().period

    async def pace_change(self, told: Pace) -> Pace:
        """The pace sessions are told, once it is no longer the one given. Sessions opened
        while the cluster was small would otherwise beat at its period for good (at 5,000
        nodes, beats a second enough to swamp the manager that then found them late), and
        come back all at once after a restart."""
        while self._told == told:
            await self._retold.wait()
        return self._told

    def _clock(self) -> float:
        return time.monotonic() - self._lag.stalled()

    def _reconnecting(self, at: float) -> bool:
        """Whether nodes may still be coming back after this term began: within the grace, or
        while sessions keep opening, wait their turn to or bring a returning node's first
        message (up to the limit)."""
        since_start = at - self._started
        if since_start <= STARTUP_GRACE_BEATS * self.session_period():
            return True
        quiet = at - self._last_connect > MISSED_BEATS * self.session_period()
        opening = not quiet or bool(self._knocking)
        return opening and since_start <= self._grace_limit

    def returning(self) -> Collection[str]:
        """The nodes this term began awaiting, back or not, until its wait for them ends (the
        grace of _reconnecting): a silence of theirs counts only from then
        (manager/dispatcher/silence.py)."""
        return self._returning

    def knocking(self, node_id: str) -> None:
        """The node's session came, and waits its turn to open."""
        self._last_connect = self._clock()
        self._knocking[node_id] += 1

    def knocked(self, node_id: str) -> None:
        """The node's session has its turn (connected follows), or went away waiting."""
        self._knocking[node_id] -= 1
        if self._knocking[node_id] <= 0:
            del self._knocking[node_id]

    def connected(self, node_id: str) -> None:
        self._last_connect = self._clock()
        self._connected.add(node_id)
        self._awaited.discard(node_id)
        self._disconnected_at.pop(node_id, None)
        self._answered.discard(node_id)

    def answered(self, node_id: str) -> None:
        """The node's new session brought its first message. Sessions open faster than their
        nodes can take in their task sets and beat (after a restart, 1,000 hollow nodes answered
        up to 10 s after their sessions opened, and were taken for silent once the wait ended),
        so the wait for the returning nodes lasts while their first answers still come."""
        self._answered.add(node_id)
        if node_id in self._returning:
            self._last_connect = self._clock()

    def disconnected(self, node_id: str, *, down: bool) -> None:
        self._connected.discard(node_id)
        answered = node_id in self._answered
        self._answered.discard(node_id)
        if not down:
            self._disconnected_at[node_id] = (self._clock(), answered)

    async def set_state(self, node_id: str, state: NodeState, message: str) -> None:
        await self._store_states([node_id], state, message, sweep=False)

    async def _store_states(
        self, node_ids: Collection[str], state: NodeState, message: str, *, sweep: bool
    ) -> None:
        """One write for every node given whose state or message changes."""

        def plan(view: ReadView) -> Sequence[Op]:
            ops: list[Op] = []
            for node_id in node_ids:
                node = view.get(Node, node_id)
                if node is None or (node.state == state and node.message == message):
                    continue
                # A sweep decided on a node without a session; one may have opened meanwhile.
                if sweep and (node_id in self._connected or node_id in self._knocking):
                    continue
                ops.append(Put(replace(node, state=state, message=message)))
            return ops

        for node in await self._store.transact(plan):
            log.info("node state", node_id=node.id, state=state.name, reason=message)

    async def run(self) -> None:
        """Mark DOWN the nodes that stayed disconnected, or never came back after a start.

        Runs while this manager leads (for one manager on SQLite, always). A term begins with
        every node that is not down awaited: its session was with the former leader, and it
        counts as down only once the grace period has passed without one here, so a failover
        never marks a healthy node down.
        """
        self._started = self._clock()
        self._last_connect = self._started
        # Sessions that ended under a former term of this manager get the grace period too.
        self._disconnected_at = {}
        self._awaited = {
            n.id
            for n in self._store.objects(Node)
            if n.state != NodeState.DOWN and n.id not in self._connected
        }
        self._returning = set(self._awaited)
        self._grace_limit = max(
            STARTUP_GRACE_LIMIT * self.period, len(self._awaited) / RECONNECTS_PER_SECOND
        )
        try:
            while True:
                await asyncio.sleep(self.period / 2)
                await self._sweep()
        finally:
            # A follower awaits none: its gauge says so.
            self._returning.clear()

    async def _sweep(self) -> None:
        """Mark down the nodes without a session for 3 periods (of the base period, or of the
        session's for a node that never answered), and once the term stops waiting for its
        nodes, those that never came back."""
        now = self._clock()
        # A node that had answered in its session is down after 3 of the base period, not of
        # the longer one a large cluster beats at: that one bounds the beats' cost, and a node
        # without a session beats not at all. Its agent, if alive, retries at once once the
        # manager took its session (agent/node.py), and a session waiting for its hello or its
        # turn spares it. Three of the session period (3 s from 3,000 nodes) found 1 % of the
        # nodes lost in 9.5-11.8 s at 5,000-10,000 nodes, and their tasks elsewhere in
        # 12.6-16.1 s. A node that never answered keeps the session period: its agent may be
        # backing off over the reconnect window. A returning node's absence counts only from
        # the end of the wait for them, as its silence does (silence.py).
        answered_limit = now - MISSED_BEATS * self.period
        limit = now - MISSED_BEATS * self.session_period()
        due = {
            node_id: gone
            for node_id, gone in self._disconnected_at.items()
            if gone[0] < (answered_limit if gone[1] else limit)
            and node_id not in self._knocking
            and node_id not in self._returning
        }
        for node_id in due:
            del self._disconnected_at[node_id]
        if due and not await self._mark_down(due, "no session for 3 heartbeat periods"):
            # The next sweep tries again, unless a session opened meanwhile.
            for node_id, gone in due.items():
                if node_id not in self._connected:
                    self._disconnected_at.setdefault(node_id, gone)
        if not self._reconnecting(now):
            for node_id in self._returning.intersection(self._disconnected_at):
                self._disconnected_at[node_id] = (now, self._disconnected_at[node_id][1])
            self._returning.clear()
            awaited, self._awaited = self._awaited, set()
            missing = [
                node.id
                for node in self._store.objects(Node)
                if node.id not in self._connected
                and node.id not in self._knocking
                and node.state != NodeState.DOWN
                and (node.state == NodeState.UNKNOWN or node.id in awaited)
            ]
            if missing and not await self._mark_down(missing, "did not reconnect"):
                self._awaited |= awaited.intersection(missing)

    async def _mark_down(self, node_ids: Collection[str], message: str) -> bool:
        """Mark down, in one write, the nodes still without a session; False when the write
        failed. A sweep finds hundreds at once when 1 % of 10,000 nodes are lost: one write
        each, queued behind a burst's writes, left them up for minutes."""
        write = self._store_states(node_ids, NodeState.DOWN, message, sweep=True)
        return await attempt("nodes down", write, nodes=len(node_ids))
