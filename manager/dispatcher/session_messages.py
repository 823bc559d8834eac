"""Session messages made whole, and status batches read: the Dispatcher's conversions of what
goes down and comes up a node's session."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import structlog

from common import convert, pki
from common.api import dispatcher_pb2 as pb
from common.mesh_view import IngressPort
from common.model import TaskStatus
from manager.dispatcher.pace import Pace
from manager.trust import ClusterTrust

log = structlog.get_logger("dispatcher")

# Said before a removed node's session is refused or ended: an agent of this release then
# removes what it has on its host; an older one ignores it and stops on PERMISSION_DENIED.
REMOVED = pb.ManagerMessage(removed=pb.Removed())
# Said before a promoted node's worker session is ended: its agent hands the host over to a
# manager process.
PROMOTED = pb.ManagerMessage(promoted=pb.Promoted())


def statuses(node_id: str, batch: pb.StatusBatch) -> list[tuple[str, TaskStatus]]:
    """The updates of a batch that decode; one that does not (an unknown state) is dropped."""
    updates = []
    for update in batch.updates:
        try:
            updates.append((update.task_id, convert.status_from_pb(update.status)))
        except (ValueError, OverflowError) as exc:
            log.warning(
                "undecodable task report dropped",
                node_id=node_id,
                task_id=update.task_id[:64],
                error=str(exc)[:200],
            )
    return updates


def ingress_full(ports: Iterable[IngressPort]) -> pb.IngressView:
    return pb.IngressView(full=True, ports=[convert.ingress_port_to_pb(p) for p in ports])


def ingress_changes(changes: Mapping[str, IngressPort | None]) -> pb.IngressView:
    """The ports that changed, whole, and the keys of those that went (None)."""
    return pb.IngressView(
        ports=[convert.ingress_port_to_pb(p) for p in changes.values() if p is not None],
        removed=[key for key, p in changes.items() if p is None],
    )


def settings(trust: ClusterTrust, pace: Pace, sessions: int) -> pb.ManagerMessage:
    """The session's settings; sessions: how many nodes hold one, which spreads renewals out."""
    within = trust.renew_within(sessions) if trust.rotating else None
    return pb.ManagerMessage(
        settings=pb.Settings(
            heartbeat_period_ms=round(pace.period * 1000),
            ca_pem=trust.roots_pem,
            ca_rotating=trust.rotating,
            renew_within_ms=0 if within is None else round(within.total_seconds() * 1000),
            reconnect_within_ms=round(pace.reconnect_within * 1000),
        )
    )


def peer_root(trust: ClusterTrust, context: Any) -> str:
    """The digest of the root whose certificate the node presents on this session."""
    pems = context.auth_context().get("x509_pem_cert")
    return trust.root_digest_of(pki.load_cert(pems[0])) if pems else ""
