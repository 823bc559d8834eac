"""How many sessions open at once. Opening one is the dearest thing a session does (a store
write, the node's whole assignment set encoded and sent); thousands at once after a manager
restart filled the event loop's queue, and the beats of sessions already open waited behind
them until those sessions were taken for silent. A session past the first few waits its turn
here, after its hello: its node counts as present (Liveness.knocking), not down."""

from __future__ import annotations

import asyncio

from manager.dispatcher.liveness import Liveness

OPENING_AT_ONCE = 32


class Turn:
    """A session's place among those opening; end() gives it to the next (once)."""

    def __init__(self, gate: asyncio.Semaphore) -> None:
        self._gate: asyncio.Semaphore | None = gate

    def end(self) -> None:
        if self._gate is not None:
            self._gate.release()
            self._gate = None


class Admission:
    def __init__(self, liveness: Liveness, at_once: int = OPENING_AT_ONCE) -> None:
        self._liveness = liveness
        self._gate = asyncio.Semaphore(at_once)

    async def turn(self, node_id: str) -> Turn:
        """Waits until the node's session may open."""
        self._liveness.knocking(node_id)
        try:
            await self._gate.acquire()
        finally:
            self._liveness.knocked(node_id)
        return Turn(self._gate)
