"""A root CA rotation as swarmkit does it (RootRotation), in pure steps on the Cluster object.

begin: a new root is made and cross-signed by the old one; both are trusted, the new one
signs every node certificate from now on, and the join tokens change (their digest names the
new root). progress: which live nodes (READY: holding a session) present a certificate of the
new root. finish: once all of them do, the old root is dropped and its digest retired, so a
token or a node of it is told to join again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import timedelta

from common import pki, tokens
from common.errors import FailedPrecondition
from common.model import Cluster, Node, NodeRole, NodeState, RootRotation
from manager import join_secrets
from manager.ca import ClusterCA
from manager.data_key import DataKey

# What node ls shows in TLS STATUS (docker: Ready / NeedsRotation); NEEDS_REJOIN: a node
# of a root rotated out while it was away, which only a new join brings back.
READY = "Ready"
NEEDS_ROTATION = "NeedsRotation"
NEEDS_REJOIN = "NeedsRejoin"
UNKNOWN = "Unknown"


def key_binding(cert_pem: bytes) -> str:
    """What a sealed root key is bound to: its own certificate, so it opens for no other."""
    return f"root-ca-key:{tokens.digest_of(pki.der(pki.load_cert(cert_pem)))}"


def seal_key(ca: ClusterCA, data_key: DataKey) -> bytes:
    return data_key.seal(ca.key_pem, key_binding(ca.pem))


def open_key(cert_pem: bytes, sealed: bytes, data_key: DataKey) -> ClusterCA:
    return ClusterCA.from_pem(cert_pem, data_key.open(sealed, key_binding(cert_pem)))


def begin(
    cluster: Cluster, current: ClusterCA, data_key: DataKey, cert_expiry: timedelta | None
) -> Cluster:
    """The cluster with a rotation under way; FailedPrecondition while one already is."""
    if cluster.rotation is not None:
        raise FailedPrecondition(
            "a CA rotation is already in progress: `shoal ca` shows how far it is"
        )
    generation = cluster.ca_generation + 1
    new = ClusterCA.create(cluster.id, generation)
    rotation = RootRotation(
        ca_cert_pem=new.pem,
        ca_key_sealed=seal_key(new, data_key),
        cross_signed_pem=pki.cert_pem(current.cross_sign(new.cert)),
        old_cert_pem=current.pem,
    )
    rotating = replace(
        cluster,
        # Recorded in the store at the first rotation: from then on the store is where every
        # manager (a follower, one joining later) finds the root.
        ca_cert_pem=current.pem,
        ca_key_sealed=cluster.ca_key_sealed or seal_key(current, data_key),
        rotation=rotation,
        ca_generation=generation,
        digest=new.digest,
        node_cert_expiry=cert_expiry or cluster.node_cert_expiry,
    )
    # New tokens: their digest names the new root, and their secrets are new too.
    for role in NodeRole:
        rotating = join_secrets.with_secret(data_key, rotating, role, tokens.new_secret())
    return rotating


@dataclass(frozen=True)
class Progress:
    moved: int
    total: int
    # Hostnames of the live nodes still on the old root.
    pending: tuple[str, ...]

    @property
    def done(self) -> bool:
        return self.moved == self.total


def progress(cluster: Cluster, nodes: Iterable[Node]) -> Progress:
    """How many live nodes hold a certificate of the root that signs now."""
    live = [n for n in nodes if n.state == NodeState.READY]
    pending = tuple(
        sorted(n.description.hostname or n.id for n in live if n.cert_root != cluster.digest)
    )
    return Progress(moved=len(live) - len(pending), total=len(live), pending=pending)


def finish(cluster: Cluster) -> Cluster:
    """The rotation's end: the new root alone is trusted; the old one's digest is retired."""
    rotation = cluster.rotation
    if rotation is None:
        return cluster
    old_digest = tokens.digest_of(pki.der(pki.load_cert(rotation.old_cert_pem)))
    return replace(
        cluster,
        ca_cert_pem=rotation.ca_cert_pem,
        ca_key_sealed=rotation.ca_key_sealed,
        rotation=None,
        retired_digests=(*cluster.retired_digests, old_digest),
    )


def token_refused(cluster: Cluster, digest: str) -> bool:
    """A join token naming a root retired, or the one a rotation in progress replaces (its
    tokens were replaced when the rotation began)."""
    if digest in cluster.retired_digests:
        return True
    rotation = cluster.rotation
    return rotation is not None and digest == tokens.digest_of(
        pki.der(pki.load_cert(rotation.old_cert_pem))
    )


def tls_status(node: Node, cluster: Cluster) -> str:
    if not node.cert_root:
        return UNKNOWN
    if node.cert_root == cluster.digest:
        return READY
    return NEEDS_ROTATION if cluster.rotation is not None else NEEDS_REJOIN


ROTATED_OUT = (
    "the cluster CA this names was rotated out (`shoal ca --rotate`): join again with a new"
    " token from `shoal join-token worker` (or manager)"
)
