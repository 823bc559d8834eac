"""Secrets and configs in the store: their data sealed with the cluster data key, the references
service specs make to them, and which versions are still in use.

A reference names a version: a task made from a spec gets that version's data, so `secret
rotate` is a spec change that rolls out (and rolls back) like any other, and `service ps` can
show each task's version. Versions no service spec and no unfinished task names are dropped."""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from dataclasses import replace
from typing import TypeVar

from common.errors import InvalidArgument
from common.limits import MAX_PATH, max_data_bytes
from common.model import (
    Config,
    ContainerSpec,
    FileReference,
    SealedObject,
    SealedVersion,
    Secret,
    Service,
    ServiceSpec,
    Task,
    now,
)
from manager.data_key import DataKey
from manager.store import ReadView

SECRETS_DIR = "/run/secrets"

S = TypeVar("S", bound=SealedObject)


def kind_name(kind: type[SealedObject]) -> str:
    return "config" if issubclass(kind, Config) else "secret"


def bound_to(kind: type[SealedObject], obj_id: str, version: int) -> str:
    """What a version's sealed bytes are bound to: copied onto another object or version, they
    fail to open."""
    return f"{kind_name(kind)}:{obj_id}:{version}"


def check_size(kind: type[SealedObject], data: bytes) -> None:
    limit = max_data_bytes(issubclass(kind, Config))
    what = kind_name(kind)
    if not data:
        raise InvalidArgument(f"{what} data is empty")
    if len(data) > limit:
        raise InvalidArgument(
            f"{what} data is {len(data)} bytes, over the limit of {limit // 1024} KB"
        )


def sealed_version(
    key: DataKey, kind: type[SealedObject], obj_id: str, version: int, data: bytes
) -> SealedVersion:
    return SealedVersion(version, key.seal(data, bound_to(kind, obj_id, version)), now())


def open_version(key: DataKey, obj: SealedObject, version: SealedVersion) -> bytes:
    return key.open(version.sealed, bound_to(type(obj), obj.id, version.version))


def references(spec: ContainerSpec, kind: type[SealedObject]) -> tuple[FileReference, ...]:
    return spec.configs if issubclass(kind, Config) else spec.secrets


def with_references(
    spec: ServiceSpec, kind: type[SealedObject], refs: Iterable[FileReference]
) -> ServiceSpec:
    if issubclass(kind, Config):
        return replace(spec, container=replace(spec.container, configs=tuple(refs)))
    return replace(spec, container=replace(spec.container, secrets=tuple(refs)))


def get(view: ReadView, kind: type[SealedObject], obj_id: str) -> Secret | Config | None:
    return view.get(Config, obj_id) if issubclass(kind, Config) else view.get(Secret, obj_id)


def objects(view: ReadView, kind: type[SealedObject]) -> list[Secret] | list[Config]:
    return view.objects(Config) if issubclass(kind, Config) else view.objects(Secret)


def default_target(kind: type[SealedObject], name: str) -> str:
    return f"/{name}" if issubclass(kind, Config) else name


def mount_point(kind: type[SealedObject], target: str) -> str:
    """Where the file appears in the container."""
    return target if issubclass(kind, Config) else posixpath.join(SECRETS_DIR, target)


def checked_target(kind: type[SealedObject], ref: FileReference) -> str:
    target = ref.target or default_target(kind, ref.name)
    if len(target) > MAX_PATH:
        raise InvalidArgument(f"{kind_name(kind)} target is longer than {MAX_PATH} characters")
    point = posixpath.normpath(mount_point(kind, target))
    if not point.startswith("/") or point in ("/", SECRETS_DIR) or "\0" in point:
        raise InvalidArgument(f"invalid {kind_name(kind)} target {target!r}")
    if not issubclass(kind, Config) and posixpath.dirname(point) != SECRETS_DIR:
        raise InvalidArgument(f"invalid secret target {target!r}: a file name under {SECRETS_DIR}")
    return target


def users(view: ReadView, obj: SealedObject) -> list[str]:
    """The names of the services whose spec (or spec to roll back to) references obj."""
    kind = type(obj)
    return sorted(
        s.spec.name
        for s in view.objects(Service)
        if any(
            r.id == obj.id
            for spec in (s.spec, s.previous_spec)
            if spec is not None
            for r in references(spec.container, kind)
        )
    )


def versions_in_use(view: ReadView, obj: SealedObject) -> set[int]:
    """The versions a service spec names or an unfinished task runs with."""
    kind = type(obj)
    specs = [
        spec.container
        for s in view.objects(Service)
        for spec in (s.spec, s.previous_spec)
        if spec is not None
    ]
    specs += [t.spec for t in view.objects(Task) if not t.status.state.terminal]
    return {r.version for c in specs for r in references(c, kind) if r.id == obj.id}


def pruned(view: ReadView, obj: S) -> S | None:
    """obj without the old versions nothing uses any more; None when it has none to drop."""
    used = versions_in_use(view, obj) | {obj.current.version}
    kept = tuple(v for v in obj.versions if v.version in used)
    return replace(obj, versions=kept) if len(kept) < len(obj.versions) else None
