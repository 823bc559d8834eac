"""The reading side of a node's session: heartbeats kept, the engine's outages told, task
statuses handed on; the Dispatcher's Session runs it beside what it sends."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from common.api import dispatcher_pb2 as pb
from common.model import NodeState
from manager.dispatcher import session_messages
from manager.dispatcher.liveness import MISSED_BEATS, Liveness
from manager.dispatcher.status import StatusIntake
from manager.metrics import ManagerMetrics


async def read(
    node_id: str,
    messages: AsyncIterator[pb.AgentMessage],
    period: float,
    metrics: ManagerMetrics,
    liveness: Liveness,
    status: StatusIntake,
) -> bool:
    """Take the agent's messages; True when it fell silent (heartbeat failure)."""
    timeout = MISSED_BEATS * period
    engine_error = ""
    last = time.monotonic()
    while True:
        try:
            # Not wait_for: on 3.11 it can swallow the cancel that stops this loop.
            async with asyncio.timeout(timeout):
                msg = await anext(messages)
        except TimeoutError:
            return True
        except StopAsyncIteration:
            return False
        except Exception:
            # The stream ended under us (reset, or aborted by this side): not a silence.
            return False
        last = metrics.agent_message(msg.WhichOneof("kind"), last, period)
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
