"""One resolver for every kind of object a client names: by full ID, then by name, then by
unambiguous ID prefix (docker's order)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from common.errors import InvalidArgument, NotFound
from common.model import Config, Network, Node, Secret, Service, Task
from manager.store import ReadView

T = TypeVar("T", Node, Service, Task, Network, Secret, Config)


def resolve(
    view: ReadView,
    kind: type[T],
    ref: str,
    what: str,
    name_of: Callable[[T], str] | None = None,
    *,
    unique_name: bool = False,
    missing: str = "no such {what}: {ref}",
) -> T:
    """The object of kind that ref names; what names the kind in errors. name_of: its name, if
    it has one; unique_name: two objects of one name make ref ambiguous (hostnames may repeat),
    else the first is taken (names are unique); missing: the NotFound message."""
    if not ref:
        raise InvalidArgument(f"no {what} given")
    found = view.get(kind, ref)
    if found is not None:
        return found
    objects = view.objects(kind)
    candidates: list[Sequence[T]] = []
    if name_of is not None:
        candidates.append([o for o in objects if name_of(o) == ref])
    candidates.append([o for o in objects if o.id.startswith(ref)])
    for index, matches in enumerate(candidates):
        by_name = name_of is not None and index == 0
        if len(matches) == 1 or (matches and by_name and not unique_name):
            return matches[0]
        if len(matches) > 1:
            raise InvalidArgument(f"{what} {ref} is ambiguous ({len(matches)} matches)")
    raise NotFound(missing.format(what=what, ref=ref))


def resolve_service(view: ReadView, ref: str) -> Service:
    return resolve(view, Service, ref, "service", lambda s: s.spec.name)


def resolve_node(view: ReadView, ref: str) -> Node:
    return resolve(view, Node, ref, "node", lambda n: n.description.hostname, unique_name=True)


def resolve_network(view: ReadView, ref: str) -> Network:
    return resolve(
        view, Network, ref, "network", lambda n: n.name, missing="network {ref} not found"
    )


def resolve_task(view: ReadView, ref: str) -> Task:
    """A task, for a client that named a service or a task."""
    return resolve(view, Task, ref, "task", missing="no such service or task: {ref}")


def resolve_sealed(view: ReadView, config: bool, ref: str) -> Secret | Config:
    """A secret, or with config a config, as docker words its absence ("secret not found:
    NAME")."""
    if config:
        return resolve(view, Config, ref, "config", _name, missing="config not found: {ref}")
    return resolve(view, Secret, ref, "secret", _name, missing="secret not found: {ref}")


def _name(obj: Secret | Config) -> str:
    return obj.name
