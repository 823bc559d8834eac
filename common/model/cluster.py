"""The cluster object and its networks."""

from __future__ import annotations

from dataclasses import dataclass, field

from common.model.meta import Meta


@dataclass(frozen=True, repr=False)
class Cluster:
    id: str
    digest: str
    worker_secret: str
    manager_secret: str
    meta: Meta = Meta()
    # Admin certificates carry the generation they were issued in; older ones are refused.
    admin_generation: int = 0
    # Autolock's key encryption key, sealed under the cluster data key (manager.autolock);
    # empty: autolock is off.
    sealed_unlock_key: bytes = b""

    @property
    def autolock(self) -> bool:
        return bool(self.sealed_unlock_key)

    def __repr__(self) -> str:
        return f"Cluster(id={self.id!r}, <secrets redacted>)"


@dataclass(frozen=True)
class Network:
    """A cluster network. Each node that runs a task on it gets a slice of subnet (slices:
    node ID -> slice index) for its containers' addresses."""

    id: str
    name: str
    subnet: str
    vni: int
    meta: Meta = Meta()
    labels: dict[str, str] = field(default_factory=dict)
    slices: dict[str, int] = field(default_factory=dict)
