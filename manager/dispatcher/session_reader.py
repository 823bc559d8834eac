"""The reading side of a node's session: heartbeats kept, the engine's outages told, task
statuses handed on; the Dispatcher's Session runs it beside what it sends."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from common.api import dispatcher_pb2 as pb
from common.model import NodeState
from manager.dispatcher import session_messages
from manager.dispatcher.liveness import MISSED_BEATS, Liveness, Period
from manager.dispatcher.loop_lag import LoopLag
from manager.dispatcher.status import StatusIntake
from manager.metrics import ManagerMetrics


async def read(
    node_id: str,
    messages: AsyncIterator[pb.AgentMessage],
    period: Period,
    metrics: ManagerMetrics,
    liveness: Liveness,
    status: StatusIntake,
    lag: LoopLag,
) -> bool:
    """Take the agent's messages; True when it fell silent (heartbeat failure) for
    MISSED_BEATS of its period, as last told, not counting the time this manager's own loop
    was held up (lag)."""
    engine_error = ""
    last = time.monotonic()
    while True:
        # Not cancelled on a timeout, which would abandon gRPC's read under way: the wait is
        # extended by the lag instead.
        read = asyncio.ensure_future(anext(messages))
        try:
            if not await _arrives(read, MISSED_BEATS * period.seconds, lag):
                return True
            msg = read.result()
        except StopAsyncIteration:
            return False
        except Exception:
            # The stream ended under us (reset, or aborted by this side): not a silence.
            return False
        finally:
            read.cancel()
        last = metrics.agent_message(msg.WhichOneof("kind"), last, period.seconds)
        if msg.WhichOneof("kind") == "heartbeat" and msg.heartbeat.engine_error != engine_error:
            engine_error = msg.heartbeat.engine_error
            if engine_error:
                await liveness.set_state(
                    node_id, NodeState.DOWN, f"docker engine not answering: {engine_error}"
                )
            else:
                await liveness.set_state(node_id, NodeState.READY, "")
        if msg.WhichOneof("kind") == "status":
            status.submit(node_id, session_messages.statuses(node_id, msg.status))


async def _arrives(read: asyncio.Future[pb.AgentMessage], within: float, lag: LoopLag) -> bool:
    """Whether the read completes within so many seconds of this loop's working time."""
    stalled = lag.stalled()
    while True:
        done, _ = await asyncio.wait([read], timeout=within)
        if done:
            return True
        now = lag.stalled()
        within, stalled = now - stalled, now
        if within <= 0:
            return False
