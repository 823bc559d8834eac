"""Which nodes go by a host name: so that a session opening checks its name against the few
nodes that share it, not against every node (10,000 reconnecting nodes made that 10^8 looks)."""

from __future__ import annotations

from collections.abc import Iterable

from common.model import Node
from manager.store import Action, Event


class HostnameIndex:
    """A superset of the nodes going by each name: callers check each candidate against the
    store, so an entry that is stale costs a look and a missing one is never possible (a name
    is claimed before its write, and dropped only once the store says it changed)."""

    def __init__(self, nodes: Iterable[Node]) -> None:
        self._ids: dict[str, set[str]] = {}
        for node in nodes:
            self.claim(node.description.hostname, node.id)

    def candidates(self, hostname: str) -> set[str]:
        return set(self._ids.get(hostname.lower(), ()))

    def claim(self, hostname: str, node_id: str) -> None:
        self._ids.setdefault(hostname.lower(), set()).add(node_id)

    def follow(self, event: Event) -> None:
        old, new = event.old, event.obj
        if not isinstance(new, Node):
            return
        if isinstance(old, Node) and (
            event.action is Action.DELETE
            or old.description.hostname.lower() != new.description.hostname.lower()
        ):
            self._drop(old.description.hostname, old.id)
        if event.action is not Action.DELETE:
            self.claim(new.description.hostname, new.id)

    def _drop(self, hostname: str, node_id: str) -> None:
        ids = self._ids.get(hostname.lower())
        if ids is not None:
            ids.discard(node_id)
            if not ids:
                del self._ids[hostname.lower()]
