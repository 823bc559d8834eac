"""Which nodes go by a host name: so that a session opening checks its name against the few
nodes that share it, not against every node (10,000 reconnecting nodes made that 10^8 looks)."""

from __future__ import annotations

from collections.abc import Iterable

from common.errors import Conflict
from common.model import Node, NodeState
from manager.store import Action, Event, ReadView


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


def check_hostname_free(view: ReadView, node_id: str, hostname: str, index: HostnameIndex) -> None:
    """Two live nodes never share a name: placement constraints (node.hostname==) and people
    go by it. A node that is down gives its name up, so a host that joins again under a new
    node ID gets in once its old node is down; until then it is refused and retries."""
    wanted = hostname.lower()
    index.claim(hostname, node_id)
    for other_id in index.candidates(hostname):
        other = view.get(Node, other_id)
        if (
            other is not None
            and other.id != node_id
            and other.state != NodeState.DOWN
            and other.description.hostname.lower() == wanted
        ):
            raise Conflict(
                f"hostname {hostname} is taken by node {other.id}, which is not down:"
                " give this node another --hostname, or remove the other node"
            )
