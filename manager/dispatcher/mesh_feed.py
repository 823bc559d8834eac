"""Keeps the routing mesh's view current from store events and hands each session its changes.

The view is small (one entry per published ingress port), so every node gets all of it: in full
when its session opens, then each port that changed, in full, and the keys of those that went.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping

from common.mesh_view import IngressPort
from common.model import Node, Service, Task
from manager.mesh_backends import service_ports, serving_addresses
from manager.store import Event, StateStore

# How long a first change waits for others, so a burst reaches the agents as one message.
BATCH_WINDOW = 0.01


class IngressOutbox:
    """One session's pending changes, coalesced per port key (None: the port went)."""

    def __init__(self) -> None:
        self._changes: dict[str, IngressPort | None] = {}
        self._ready = asyncio.Event()

    def put(self, key: str, port: IngressPort | None) -> None:
        self._changes[key] = port
        self._ready.set()

    async def take(self) -> dict[str, IngressPort | None]:
        await self._ready.wait()
        await asyncio.sleep(BATCH_WINDOW)
        self._ready.clear()
        changes, self._changes = self._changes, {}
        return changes


class MeshFeed:
    def __init__(self, store: StateStore, addresses: Mapping[str, str] | None = None) -> None:
        """addresses: node ID -> address for nodes whose session address is not the one other
        nodes reach them at (the manager's own node)."""
        self._store = store
        self._overrides = dict(addresses or {})
        self._ports: dict[str, IngressPort] = {}
        self._keys_of: dict[str, set[str]] = {}
        self._outboxes: set[IngressOutbox] = set()

    def attach(self) -> tuple[list[IngressPort], IngressOutbox]:
        """The whole view now and an outbox for what changes after; no await between them."""
        outbox = IngressOutbox()
        self._outboxes.add(outbox)
        return list(self._ports.values()), outbox

    def detach(self, outbox: IngressOutbox) -> None:
        self._outboxes.discard(outbox)

    @property
    def ports(self) -> dict[str, IngressPort]:
        return dict(self._ports)

    async def run(self) -> None:
        watch = self._store.watch()
        try:
            self._refresh(s.id for s in self._store.objects(Service))
            while True:
                self._refresh(self._affected(await watch.next_batch()))
        finally:
            watch.close()

    def _affected(self, events: Iterable[Event]) -> set[str]:
        services: set[str] = set()
        for event in events:
            obj = event.obj
            if isinstance(obj, Node):
                return set(self._keys_of) | {s.id for s in self._store.objects(Service)}
            if isinstance(obj, Service):
                services.add(obj.id)
            elif isinstance(obj, Task):
                services.add(obj.service_id)
        return services

    def _refresh(self, service_ids: Iterable[str]) -> None:
        addresses: dict[str, str] | None = None
        for service_id in service_ids:
            service = self._store.get(Service, service_id)
            if service is None or not service.endpoint_ports:
                self._replace(service_id, [])
                continue
            if addresses is None:
                addresses = serving_addresses(self._store.objects(Node), self._overrides)
            tasks = self._store.tasks_of_service(service_id)
            self._replace(service_id, service_ports(service, tasks, addresses))

    def _replace(self, service_id: str, ports: list[IngressPort]) -> None:
        old = self._keys_of.pop(service_id, set())
        new = {p.key: p for p in ports}
        if new:
            self._keys_of[service_id] = set(new)
        for key in old - set(new):
            # Another service may have taken the key in the same batch: it is theirs now.
            if self._ports.get(key) is not None and self._ports[key].service_id == service_id:
                del self._ports[key]
                self._publish(key, None)
        for key, port in new.items():
            if self._ports.get(key) != port:
                self._ports[key] = port
                self._publish(key, port)

    def _publish(self, key: str, port: IngressPort | None) -> None:
        for outbox in self._outboxes:
            outbox.put(key, port)
