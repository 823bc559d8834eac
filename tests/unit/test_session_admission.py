"""Sessions open a few at a time: one past those opening waits its turn after its hello, and its
node is not taken for lost however long it waits, past every grace; a node that never came is,
and so is one whose session went away while it waited."""

from __future__ import annotations

import asyncio
from pathlib import Path

from common.model import Node, NodeState
from manager.dispatcher.admission import Admission
from manager.dispatcher.liveness import Liveness
from manager.dispatcher.loop_lag import LoopLag
from manager.store import SqliteStore
from tests.unit.test_liveness_scale import stored_nodes
from tests.waiting import eventually

PERIOD = 0.05


def state(store: SqliteStore, node_id: str) -> NodeState:
    node = store.get(Node, node_id)
    assert node is not None
    return node.state


async def test_a_node_waiting_its_turn_to_open_is_not_marked_down(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "state.db")
    opening, waiting, gone, never = await stored_nodes(store, 4)
    liveness = Liveness(store, PERIOD, LoopLag())
    admission = Admission(liveness, at_once=1)
    sweeping = asyncio.create_task(liveness.run())
    try:
        await asyncio.sleep(0)  # the term begins: every node is awaited
        turn = await admission.turn(opening)
        liveness.connected(opening)
        # Two nodes whose sessions ended a moment ago came back, and wait behind the first.
        for node_id in (waiting, gone):
            liveness.connected(node_id)
            liveness.disconnected(node_id, down=False)
        queued = asyncio.create_task(admission.turn(waiting))
        leaving = asyncio.create_task(admission.turn(gone))
        # Past the grace's limit (60 periods) the node that never came is down; the sweep
        # that marks it finds the waiting ones, silent for far longer than 3 periods, too.
        await eventually(lambda: state(store, never) is NodeState.DOWN, "never marked down", 20)
        assert state(store, waiting) is not NodeState.DOWN
        assert state(store, gone) is not NodeState.DOWN
        assert not queued.done()
        # The one that gives up waiting (its agent went away) is lost after all.
        leaving.cancel()
        await eventually(lambda: state(store, gone) is NodeState.DOWN, "gone marked down", 10)
        assert state(store, waiting) is not NodeState.DOWN
        # The first session is open: the next one's turn comes.
        turn.end()
        turn.end()
        await asyncio.wait_for(queued, 5)
        liveness.connected(waiting)
        assert state(store, waiting) is not NodeState.DOWN
        # Ending a turn twice gave away no second place: the next session still waits.
        later = asyncio.create_task(admission.turn(opening))
        for _ in range(3):
            await asyncio.sleep(0)
        assert not later.done()
        later.cancel()
    finally:
        sweeping.cancel()
        await asyncio.gather(sweeping, return_exceptions=True)
        await store.close()
