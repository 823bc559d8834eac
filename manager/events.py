"""What `shoal events` reports: a store change seen as the cluster events it means to a user.

Pure: no store, no clock. Writes that change nothing a user would see (a task's status message,
restart bookkeeping, a node's status message) mean no event, and Cluster objects never do.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TypeVar

from common.model import Meta, Node, Service, StoredObject, Task
from manager.store import Action

Hostnames = Callable[[str], str | None]
"""A node's hostname by its ID, None for a node not (or no longer) known."""

Attributes = tuple[tuple[str, str], ...]

T = TypeVar("T", Service, Node, Task)

_ACTION_WORDS = {Action.CREATE: "create", Action.UPDATE: "update", Action.DELETE: "remove"}


@dataclass(frozen=True)
class Ref:
    """An object a filter can name: by ID, ID prefix or name."""

    id: str
    name: str


@dataclass(frozen=True)
class Change:
    """One event: what happened to which object, and what it concerns for filtering."""

    type: str
    action: str
    id: str
    attributes: Attributes
    service: Ref | None = None
    node: Ref | None = None


def changes(
    action: Action, old: StoredObject | None, new: StoredObject | None, hostnames: Hostnames
) -> list[Change]:
    """The events of one store write: old is None for a create, new is None for a delete."""
    subject = new if new is not None else old
    if isinstance(subject, Service):
        return _service(action, _as(Service, old), _as(Service, new))
    if isinstance(subject, Node):
        return _node(action, _as(Node, old), _as(Node, new))
    if isinstance(subject, Task):
        return _task(action, _as(Task, old), _as(Task, new), hostnames)
    return []


def matches(filters: Mapping[str, frozenset[str]], change: Change) -> bool:
    """Docker's rule: any value of a key may match, and every key given must."""
    for key, values in filters.items():
        if key == "type":
            found = change.type in values
        elif key == "event":
            found = change.action in values
        else:
            ref = change.service if key == "service" else change.node
            found = ref is not None and any(_names(ref, value) for value in values)
        if not found:
            return False
    return True


def _names(ref: Ref, value: str) -> bool:
    return value == ref.name or ref.id.startswith(value)


def _as(kind: type[T], obj: StoredObject | None) -> T | None:
    return obj if isinstance(obj, kind) else None


def _unstamped(obj: StoredObject) -> StoredObject:
    return replace(obj, meta=Meta())


def _diff(attributes: list[tuple[str, str]], key: str, old: str, new: str) -> None:
    if old != new:
        attributes.extend([(f"{key}.old", old), (f"{key}.new", new)])


def _word(value: enum.Enum) -> str:
    return value.name.lower()


def _service(action: Action, old: Service | None, new: Service | None) -> list[Change]:
    current = new or old
    assert current is not None
    attributes = [("name", current.spec.name)]
    if old is not None and new is not None:
        if _unstamped(old) == _unstamped(new):
            return []
        _diff(attributes, "replicas", _replicas(old), _replicas(new))
        _diff(attributes, "image", old.spec.container.image, new.spec.container.image)
        old_state, new_state = old.update_status.state, new.update_status.state
        _diff(attributes, "updatestate", _word(old_state), _word(new_state))
    ref = Ref(current.id, current.spec.name)
    return [Change("service", _ACTION_WORDS[action], current.id, tuple(attributes), service=ref)]


def _replicas(service: Service) -> str:
    # A global service has no replica count to speak of.
    return "" if service.spec.mode.is_global else str(service.spec.replicas)


def _node(action: Action, old: Node | None, new: Node | None) -> list[Change]:
    current = new or old
    assert current is not None
    attributes = [("name", current.description.hostname)]
    if old is not None and new is not None:
        # The status message alone changes with the reason a state was set: not news.
        if _unstamped(replace(old, message="")) == _unstamped(replace(new, message="")):
            return []
        _diff(attributes, "state", _word(old.state), _word(new.state))
        _diff(attributes, "availability", _word(old.availability), _word(new.availability))
        _diff(attributes, "role", _word(old.role), _word(new.role))
        _diff(attributes, "name", old.description.hostname, new.description.hostname)
        _diff(attributes, "addr", old.addr, new.addr)
    ref = Ref(current.id, current.description.hostname)
    return [Change("node", _ACTION_WORDS[action], current.id, tuple(attributes), node=ref)]


def _task(action: Action, old: Task | None, new: Task | None, hostnames: Hostnames) -> list[Change]:
    current = new or old
    assert current is not None
    attributes = [("service", current.service_name)]
    if current.slot:
        attributes.append(("slot", str(current.slot)))
    moved = False
    if old is None:
        attributes.append(("state", _word(current.status.state)))
    elif new is not None:
        visible = (old.status.state, old.desired_state, old.node_id)
        if visible == (new.status.state, new.desired_state, new.node_id):
            return []
        _diff(attributes, "state", _word(old.status.state), _word(new.status.state))
        _diff(attributes, "desiredstate", _word(old.desired_state), _word(new.desired_state))
        # A first assignment just names the node, below; a move names both.
        moved = bool(old.node_id) and old.node_id != new.node_id
        if moved:
            old_host = _hostname(old.node_id, hostnames)
            attributes.extend(
                [("node.old", old_host), ("node.new", _hostname(new.node_id, hostnames))]
            )
        if new.status.state != old.status.state and new.status.err:
            attributes.append(("error", new.status.err))
    node = None
    if current.node_id:
        node = Ref(current.node_id, _hostname(current.node_id, hostnames))
        if not moved:
            attributes.append(("node", node.name))
    return [
        Change(
            "task",
            _ACTION_WORDS[action],
            current.id,
            tuple(attributes),
            service=Ref(current.service_id, current.service_name),
            node=node,
        )
    ]


def _hostname(node_id: str, hostnames: Hostnames) -> str:
    if not node_id:
        return ""
    return hostnames(node_id) or node_id
