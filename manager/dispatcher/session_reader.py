"""The reading side of a node's session: heartbeats kept, the engine's outages told, task
statuses handed on; the Dispatcher's Session runs it beside what it sends."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from common.api import dispatcher_pb2 as pb
from common.model import NodeState
from manager.dispatcher import session_messages
from manager.dispatcher.liveness import Liveness, Period
from manager.dispatcher.silence import Silence
from manager.dispatcher.status import StatusIntake
from manager.metrics import ManagerMetrics


async def read(
    node_id: str,
    messages: AsyncIterator[pb.AgentMessage],
    period: Period,
    metrics: ManagerMetrics,
    liveness: Liveness,
    status: StatusIntake,
    silence: Silence,
) -> bool:
    """Take the agent's messages; True when it fell silent (heartbeat failure), as the
    silence watch found it: MISSED_BEATS of its period, as last told, without a message (counted
    from the end of the wait for returning nodes, for one of those)."""
    heard = silence.listen(node_id, period)
    engine_error = ""
    last = time.monotonic()
    answered = False
    try:
        async for msg in messages:
            silence.heard(heard)
            if not answered:
                answered = True
                liveness.answered(node_id)
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
    except asyncio.CancelledError:
        if heard.silent:
            return True
        raise
    except Exception:
        # The stream ended under us (reset, or aborted by this side): not a silence.
        return False
    finally:
        silence.forget(heard)
    return False
