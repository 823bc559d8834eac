"""The agent's side of a session's messages: the ingress ports it is sent, read, and its task
reports, cut into messages."""

from __future__ import annotations

import structlog

from common import convert, message_limits
from common.api import dispatcher_pb2 as dpb
from common.mesh_view import IngressPort
from common.model import TaskStatus

log = structlog.get_logger("agent")


def ingress_ports(view: dpb.IngressView) -> list[IngressPort]:
    """The ports of the view that decode; one that does not (an unknown protocol) is skipped."""
    ports = []
    for port in view.ports:
        try:
            ports.append(convert.ingress_port_from_pb(port))
        except ValueError as exc:
            log.warning("ingress port skipped", port=port.published, error=str(exc)[:200])
    return ports


def status_chunks(batch: dict[str, TaskStatus]) -> list[list[dpb.TaskStatusUpdate]]:
    """Reports in messages well under the size limit: after a long absence there may be many."""
    chunks: list[list[dpb.TaskStatusUpdate]] = [[]]
    size = 0
    for task_id, status in batch.items():
        update = dpb.TaskStatusUpdate(task_id=task_id, status=convert.status_to_pb(status))
        cost = update.ByteSize()
        if chunks[-1] and size + cost > message_limits.CHUNK_BYTES:
            chunks.append([])
            size = 0
        chunks[-1].append(update)
        size += cost
    return chunks
