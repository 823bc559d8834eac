"""What every part of the Control servicer shares: the store, the cluster's facts, and one way to
write one object and answer with it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import structlog

from common.model import PortProtocol, StoredObject
from manager.data_key import DataKey
from manager.leadership import ManagerSet
from manager.logbroker import LogBroker
from manager.service_counts import ServiceCounts
from manager.store import Op, ReadView, StateStore

log = structlog.get_logger("control")


class ControlBase:
    """The state the per-resource parts of the servicer read; Control sets it up."""

    _store: StateStore
    _manager_addr: str
    _self_node_id: str
    _logs: LogBroker
    # Seals what must not be in the store in the clear (registry credentials).
    _data_key: DataKey
    _managers: ManagerSet
    # The node's own ports (common.ports.reserved_ports): no service may publish them.
    _reserved: frozenset[tuple[int, PortProtocol]]
    _shared_store: bool
    _counts: ServiceCounts

    async def _write_one(
        self, plan: Callable[[ReadView], Sequence[Op]], what: str, **context: Any
    ) -> StoredObject:
        """Commit plan, which writes one object, log what with its ID (service_id, node_id,
        network_id: by its kind) and context, and return it as stored."""
        (stored,) = await self._store.transact(plan, urgent=True)
        log.info(what, **{f"{type(stored).__name__.lower()}_id": stored.id}, **context)
        return stored
