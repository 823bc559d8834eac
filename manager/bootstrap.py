"""The cluster's first start, and what every later start checks and resets."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

from common import identity, pki
from common.ids import new_id
from common.model import Availability, Cluster, Node, NodeDescription, NodeRole, NodeState
from common.tls import Bundle
from manager import join_secrets
from manager.ca import ADMIN_LIFETIME, ClusterCA, bundle_needs_renewal
from manager.data_key import DataKey
from manager.store import Op, Put, ReadView, StateStore
from manager.trust import ClusterTrust

CA_DIR = "ca"
NODE_DIR = "node"
ADMIN_DIR = "admin"


@dataclass(frozen=True)
class Bootstrap:
    cluster: Cluster
    ca: ClusterCA
    trust: ClusterTrust
    data_key: DataKey
    node_id: str
    node_bundle: Bundle
    created: bool


async def bootstrap(
    store: StateStore,
    state_dir: Path,
    manager_addr: str,
    hostname: str,
    availability: Availability | None,
    cert_lifetime: timedelta,
    *,
    reset_nodes: bool = True,
) -> Bootstrap:
    """Create the cluster, its CA and this manager's own node on first start; resume them after.

    With reset_nodes (one manager alone), the nodes' states are reset to UNKNOWN on every start:
    nobody has a session with this new process yet, and what the last process saw may be long
    out of date. Among several managers a starting one may be a follower while the leader
    holds the sessions: the nodes' states are the leader's to keep, and a new leader gives
    them a grace period instead (manager.dispatcher.liveness).
    """
    clusters = store.objects(Cluster)
    created = not clusters
    cluster_id = clusters[0].id if clusters else new_id()
    ca = ClusterCA.load_or_create(state_dir / CA_DIR, cluster_id)
    data_key = DataKey.load_or_create(state_dir)
    if created:
        cluster = join_secrets.new_cluster(data_key, cluster_id, ca.digest)
    elif clusters[0].ca_cert_pem:
        # The root is in the store since a rotation, and the digest is that of its newest.
        cluster = join_secrets.sealed(data_key, clusters[0])
    else:
        # A state dir from before the cluster had a CA names itself by a random digest, and
        # one from before the tokens' secrets were sealed holds them in the clear.
        cluster = join_secrets.sealed(data_key, replace(clusters[0], digest=ca.digest))
    existing = identity.load(state_dir / NODE_DIR)
    node_id = existing.node_id if existing and not created else new_id()

    def plan(view: ReadView) -> Sequence[Op]:
        ops: list[Op] = []
        if created or cluster != clusters[0]:
            ops.append(Put(cluster))
        own = view.get(Node, node_id) or Node(
            id=node_id,
            role=NodeRole.MANAGER,
            description=NodeDescription(hostname=hostname),
            addr=manager_addr,
        )
        if availability is not None:
            own = replace(own, availability=availability)
        own = replace(own, state=NodeState.UNKNOWN, message="waiting for the node's session")
        ops.append(Put(own))
        for node in view.objects(Node) if reset_nodes else ():
            if node.id != node_id and node.state != NodeState.UNKNOWN:
                ops.append(Put(replace(node, state=NodeState.UNKNOWN, message="manager restarted")))
        return ops

    await store.transact(plan)
    stored = store.objects(Cluster)[0]

    trust = ClusterTrust(state_dir / CA_DIR, data_key, ca, stored)
    refresh_admin_bundle(state_dir, trust)
    node_dir = state_dir / NODE_DIR
    if existing is None or created or bundle_needs_renewal(node_dir, trust.signer):
        key = pki.new_key()
        cert_pem = trust.issue(key.public_key(), node_id, pki.ROLE_MANAGER, cert_lifetime)
        bundle = Bundle(ca_pem=trust.roots_pem, cert_pem=cert_pem, key_pem=pki.key_pem(key))
        identity.save(node_dir, identity.Identity(node_id, cluster_id, manager_addr), bundle)
    return Bootstrap(
        cluster=stored,
        ca=trust.root,
        trust=trust,
        data_key=data_key,
        node_id=node_id,
        node_bundle=Bundle.load(node_dir),
        created=created,
    )


def refresh_admin_bundle(state_dir: Path, trust: ClusterTrust) -> None:
    """The client bundle beside the manager, renewed when it is missing, stale, of a root that
    no longer signs (a CA rotation), or of an older admin generation. Whoever reads this
    directory holds the CA key beside it anyway, and `shoal` on the manager's host falls back
    to it."""
    admin_dir = state_dir / ADMIN_DIR
    generation = trust.cluster.admin_generation
    if (
        bundle_needs_renewal(admin_dir, trust.signer)
        or Bundle.load(admin_dir).subject.generation < generation
        or Bundle.load(admin_dir).ca_pem != trust.roots_pem
    ):
        issued = trust.signer.issue_with_key(
            "admin", pki.ROLE_ADMIN, trust.cluster.id, ADMIN_LIFETIME, generation=generation
        )
        Bundle(
            ca_pem=trust.roots_pem,
            cert_pem=pki.cert_pem(issued.cert),
            key_pem=pki.key_pem(issued.key),
        ).save(admin_dir)
