"""The join tokens' secrets, kept in the store sealed with the cluster data key.

Whoever reads the store (an etcd backup, etcd's own disk, a SQLite file) learns nothing that
joins a node: the secrets open only with the key on managers' disks. They are sealed rather than
hashed because `shoal join-token` prints the token again at any time, as docker does. Each is
bound to its cluster and role, so sealed bytes copied from one field onto the other do not open.
"""

from __future__ import annotations

from dataclasses import replace

from common import tokens
from common.model import Cluster, NodeRole, StoredObject
from manager.data_key import DataKey


def _bound_to(cluster_id: str, role: NodeRole) -> str:
    return f"cluster/{cluster_id}/join-secret/{role.name.lower()}"


def new_cluster(key: DataKey, cluster_id: str, digest: str) -> Cluster:
    """A cluster with fresh secrets for both tokens."""
    cluster = Cluster(id=cluster_id, digest=digest)
    for role in NodeRole:
        cluster = with_secret(key, cluster, role, tokens.new_secret())
    return cluster


def with_secret(key: DataKey, cluster: Cluster, role: NodeRole, secret: str) -> Cluster:
    sealed = key.seal(secret.encode(), _bound_to(cluster.id, role))
    if role == NodeRole.MANAGER:
        return replace(cluster, sealed_manager_secret=sealed, clear_manager_secret="")
    return replace(cluster, sealed_worker_secret=sealed, clear_worker_secret="")


def secret(key: DataKey, cluster: Cluster, role: NodeRole) -> str:
    """The role's token secret; InvalidArgument when it does not open with this key."""
    if role == NodeRole.MANAGER:
        sealed, clear = cluster.sealed_manager_secret, cluster.clear_manager_secret
    else:
        sealed, clear = cluster.sealed_worker_secret, cluster.clear_worker_secret
    # Only until the start that seals it: a state from before secrets were sealed.
    if clear:
        return clear
    return key.open(sealed, _bound_to(cluster.id, role)).decode()


def sealed(key: DataKey, cluster: Cluster) -> Cluster:
    """cluster with any secret still in the clear sealed, and the clear copy gone."""
    for role, clear in (
        (NodeRole.WORKER, cluster.clear_worker_secret),
        (NodeRole.MANAGER, cluster.clear_manager_secret),
    ):
        if clear:
            cluster = with_secret(key, cluster, role, clear)
    return cluster


def sealed_object(key: DataKey, obj: StoredObject) -> StoredObject:
    """obj, a cluster's secrets sealed: for objects moved from an older state."""
    return sealed(key, obj) if isinstance(obj, Cluster) else obj


def token(key: DataKey, cluster: Cluster, role: NodeRole) -> tokens.JoinToken:
    return tokens.JoinToken(digest=cluster.digest, secret=secret(key, cluster, role))
