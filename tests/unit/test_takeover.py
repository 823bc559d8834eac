"""What a manager does as it begins to lead: nodes get a grace period before they count as
down, and every session is told where the managers are."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from common.model import ManagerList, Node, NodeState
from manager.dispatcher.liveness import STARTUP_GRACE_BEATS, Liveness
from manager.dispatcher.loop_lag import LoopLag
from manager.store import Put, SqliteStore
from tests.rogue import Rogue, description
from tests.unit.builders import node
from tests.unit.harness import Harness
from tests.waiting import eventually

PERIOD = 0.1


async def test_a_new_term_waits_out_a_grace_period_before_marking_a_node_down(
    tmp_path: Path,
) -> None:
    """Nodes that were ready under the former leader: one whose agent comes over within the
    grace period is never marked down; one that does not is, once the period has passed."""
    store = await SqliteStore.open(tmp_path / "state.db")
    try:
        down = node("was-down", state=NodeState.DOWN)
        await store.commit([Put(node("back")), Put(node("gone")), Put(down)])
        liveness = Liveness(store, PERIOD, LoopLag())
        began = time.monotonic()
        term = asyncio.create_task(liveness.run())
        try:
            liveness.connected("back")
            await eventually(
                lambda: _state(store, "gone") == NodeState.DOWN, "gone marked down", within=10
            )
            assert time.monotonic() - began >= STARTUP_GRACE_BEATS * PERIOD
            assert _state(store, "back") == NodeState.READY
            gone = store.get(Node, "gone")
            assert gone is not None
            assert gone.message == "did not reconnect"
            # A node down already is left as it was: nothing is written for it.
            was_down = store.get(Node, "was-down")
            assert was_down is not None
            assert was_down.meta.version == 1
        finally:
            term.cancel()
            await asyncio.gather(term, return_exceptions=True)
    finally:
        await store.close()


async def test_a_session_that_ended_in_a_former_term_gets_the_grace_period_too(
    tmp_path: Path,
) -> None:
    """A node whose session closed as this manager stepped down is not marked down three
    beats into its next term, but only after the grace period without a session."""
    store = await SqliteStore.open(tmp_path / "state.db")
    try:
        await store.commit([Put(node("n1"))])
        liveness = Liveness(store, PERIOD, LoopLag())
        liveness.connected("n1")
        liveness.disconnected("n1", down=False)
        began = time.monotonic()
        term = asyncio.create_task(liveness.run())
        try:
            await eventually(lambda: _state(store, "n1") == NodeState.DOWN, "n1 down", within=10)
            assert time.monotonic() - began >= STARTUP_GRACE_BEATS * PERIOD
        finally:
            term.cancel()
            await asyncio.gather(term, return_exceptions=True)
    finally:
        await store.close()


async def test_a_session_hears_of_the_managers_after_its_first_assignments(
    harness: Harness,
) -> None:
    """One manager on SQLite: the list holds its own dispatcher's address."""
    rogue = await Rogue.joined(harness, "a1")
    await rogue.open(description("a1"))
    try:
        await eventually(lambda: rogue.managers is not None, "the managers' list")
        assert rogue.managers == ManagerList((harness.addr,))
        assert rogue.kinds.index("managers") > rogue.kinds.index("assignments")
    finally:
        await rogue.close()


def _state(store: SqliteStore, node_id: str) -> NodeState | None:
    found = store.get(Node, node_id)
    return found.state if found is not None else None
