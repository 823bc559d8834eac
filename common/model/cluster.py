"""The cluster object and its networks."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from common.model.meta import Meta


@dataclass(frozen=True, repr=False)
class Cluster:
    id: str
    digest: str
    # The join tokens' secrets, sealed with the cluster data key (manager/join_secrets.py).
    sealed_worker_secret: bytes = b""
    sealed_manager_secret: bytes = b""
    meta: Meta = Meta()
    # Admin certificates carry the generation they were issued in; older ones are refused.
    admin_generation: int = 0
    # A state written before the secrets were sealed holds them here, in the clear: a manager's
    # start seals them and empties these.
    clear_worker_secret: str = ""
    clear_manager_secret: str = ""
    # The root CA since the last rotation and its key sealed with the data key; empty before any
    # rotation (the root is then the one in the managers' state dirs).
    ca_cert_pem: bytes = b""
    ca_key_sealed: bytes = b""
    rotation: RootRotation | None = None
    # Digests of the roots rotated out, oldest first.
    retired_digests: tuple[str, ...] = ()
    # Rotations begun so far.
    ca_generation: int = 0
    # Node certificate lifetime set with the last rotation; None: each manager's own.
    node_cert_expiry: timedelta | None = None
    # Autolock's key encryption key, sealed under the cluster data key (manager.autolock);
    # empty: autolock is off.
    sealed_unlock_key: bytes = b""

    @property
    def autolock(self) -> bool:
        return bool(self.sealed_unlock_key)

    def __repr__(self) -> str:
        return f"Cluster(id={self.id!r}, <secrets redacted>)"


@dataclass(frozen=True, repr=False)
class RootRotation:
    """A CA rotation in progress: the new root, its key sealed with the data key, the new root
    cross-signed by the old one (which chains new certificates to the old root for nodes that
    trust only it), and the old root, trusted until every live node has moved."""

    ca_cert_pem: bytes
    ca_key_sealed: bytes
    cross_signed_pem: bytes
    old_cert_pem: bytes

    def __repr__(self) -> str:
        return "RootRotation(<keys redacted>)"


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
