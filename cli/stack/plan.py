"""What a deploy must do: which of the stack's networks, secrets and configs to create (and which
of its own secrets and configs to bring to the file's data), which services to create or
update (an update only where the spec differs from the stored one, so unchanged services keep
their tasks), which to remove with --prune, and the order depends_on imposes. Pure."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from cli.stack.model import NAMESPACE_LABEL, Stack, StackFile, StackNetwork, StackService
from common.errors import InvalidArgument, NotFound
from common.model import DataInfo, FileReference, Network, Service, ServiceSpec


@dataclass(frozen=True)
class Plan:
    networks_to_create: tuple[StackNetwork, ...]
    files_to_create: tuple[StackFile, ...]
    # The stack's own secrets and configs that exist, each with its stored self: rotated where
    # the file's data differs.
    files_to_sync: tuple[tuple[StackFile, DataInfo], ...]
    # Dependencies first; each with the stored service it replaces the spec of, if any.
    services: tuple[tuple[StackService, Service | None], ...]
    unchanged: tuple[Service, ...]
    to_remove: tuple[Service, ...]


def of_stack(service: Service, stack: str) -> bool:
    return service.spec.labels.get(NAMESPACE_LABEL) == stack


def make(
    stack: Stack,
    services: Iterable[Service],
    networks: Iterable[Network],
    files: Iterable[DataInfo],
    *,
    prune: bool,
) -> Plan:
    """files: the cluster's secrets and configs."""
    existing = {s.spec.name: s for s in services}
    stored_files = {(f.config, f.name): f for f in files}
    _check_files(stack, stored_files)
    by_name = {n.name: n for n in networks}
    for network in stack.networks:
        if network.external and network.name not in by_name:
            raise NotFound(
                f"network {network.name!r} is declared as external, but could not be found;"
                " create it with `shoal network create`"
            )
    ids = {name: network.id for name, network in by_name.items()}
    changes: list[tuple[StackService, Service | None]] = []
    unchanged: list[Service] = []
    for service in ordered(stack.services):
        stored = existing.get(service.spec.name)
        if stored is not None and not of_stack(stored, stack.name):
            raise InvalidArgument(
                f"service {service.spec.name} exists and is not part of stack {stack.name}"
            )
        if stored is not None and same(stored.spec, service.spec, ids):
            unchanged.append(stored)
        else:
            changes.append((service, stored))
    wanted = {s.spec.name for s in stack.services}
    removed = tuple(
        s
        for name, s in sorted(existing.items())
        if prune and of_stack(s, stack.name) and name not in wanted
    )
    return Plan(
        networks_to_create=tuple(n for n in stack.networks if n.name not in by_name),
        files_to_create=tuple(
            f for f in stack.files if (f.config, f.name) not in stored_files and not f.external
        ),
        files_to_sync=tuple(
            (f, stored_files[f.config, f.name])
            for f in stack.files
            if (f.config, f.name) in stored_files and not f.external
        ),
        services=tuple(changes),
        unchanged=tuple(unchanged),
        to_remove=removed,
    )


def _check_files(stack: Stack, stored: dict[tuple[bool, str], DataInfo]) -> None:
    """An external secret or config must exist; one of the stack's own must not be another's."""
    for file in stack.files:
        found = stored.get((file.config, file.name))
        if file.external and found is None:
            raise NotFound(
                f"{file.kind} {file.name!r} is declared as external, but could not be found;"
                f" create it with `shoal {file.kind} create`"
            )
        owner = found.labels.get(NAMESPACE_LABEL) if found else stack.name
        if not file.external and owner != stack.name:
            raise InvalidArgument(
                f"{file.kind} {file.name} exists and is not part of stack {stack.name}"
            )


def same(stored: ServiceSpec, wanted: ServiceSpec, network_ids: dict[str, str]) -> bool:
    """Whether wanted, its networks named, is what stored (networks by ID) already is; a
    forced update counter is the manager's business, not the file's, and so are the IDs and
    versions its secret and config references resolved to (a changed file rotates its object,
    which rolls the service itself)."""
    resolved = tuple(network_ids.get(name, name) for name in wanted.networks)
    container = replace(
        stored.container,
        secrets=_unresolved(stored.container.secrets),
        configs=_unresolved(stored.container.configs),
    )
    return replace(wanted, networks=resolved, force_update=stored.force_update) == replace(
        stored, container=container
    )


def _unresolved(refs: tuple[FileReference, ...]) -> tuple[FileReference, ...]:
    return tuple(replace(r, id="", version=0) for r in refs)


def ordered(services: Iterable[StackService]) -> list[StackService]:
    """Each service after those it depends on (the file's order, sorted by key, otherwise);
    a cycle is refused, naming it."""
    by_key = {s.key: s for s in services}
    done: dict[str, StackService] = {}

    def visit(key: str, path: tuple[str, ...]) -> None:
        if key in done:
            return
        if key in path:
            cycle = " -> ".join((*path[path.index(key) :], key))
            raise InvalidArgument(f"services.{key}.depends_on: a dependency cycle: {cycle}")
        service = by_key.get(key)
        if service is None:
            raise InvalidArgument(f"services.{path[-1]}.depends_on: undefined service {key}")
        for dependency in sorted(service.depends_on):
            visit(dependency, (*path, key))
        done[key] = service

    for key in sorted(by_key):
        visit(key, ())
    return list(done.values())
