"""The cluster's first start, and what every later start checks and resets."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from agent import identity
from common import tokens
from common.ids import new_id
from common.model import Availability, Cluster, Node, NodeDescription, NodeRole, NodeState
from manager.store import Op, Put, ReadView, StateStore

AGENT_DIR = "node"


@dataclass(frozen=True)
class Bootstrap:
    cluster: Cluster
    node_id: str
    created: bool


def new_cluster() -> Cluster:
    """Until the cluster has a CA, its digest is a random value that names it."""
    return Cluster(
        id=new_id(),
        digest=tokens.digest_of(tokens.new_secret().encode()),
        worker_secret=tokens.new_secret(),
        manager_secret=tokens.new_secret(),
    )


async def bootstrap(
    store: StateStore,
    state_dir: Path,
    manager_addr: str,
    hostname: str,
    availability: Availability | None,
) -> Bootstrap:
    """Create the cluster and this manager's own node on first start; resume them afterwards.

    On every start the nodes' states are reset to UNKNOWN: nobody has a session with this new
    process yet, and what the last process saw may be long out of date.
    """
    existing = identity.load(state_dir / AGENT_DIR)
    created = not store.objects(Cluster)
    cluster = new_cluster() if created else store.objects(Cluster)[0]
    node_id = existing.node_id if existing and not created else new_id()

    def plan(view: ReadView) -> Sequence[Op]:
        ops: list[Op] = []
        if created:
            ops.append(Put(cluster))
        own = view.get(Node, node_id)
        if own is None:
            own = Node(
                id=node_id,
                role=NodeRole.MANAGER,
                description=NodeDescription(hostname=hostname),
                addr=manager_addr,
            )
        if availability is not None:
            own = replace(own, availability=availability)
        own = replace(own, state=NodeState.UNKNOWN, message="waiting for the node's session")
        ops.append(Put(own))
        for node in view.objects(Node):
            if node.id != node_id and node.state != NodeState.UNKNOWN:
                ops.append(Put(replace(node, state=NodeState.UNKNOWN, message="manager restarted")))
        return ops

    await store.transact(plan)
    if existing is None or created:
        identity.save(
            state_dir / AGENT_DIR,
            identity.Identity(node_id=node_id, cluster_id=cluster.id, manager=manager_addr),
        )
    return Bootstrap(cluster=cluster, node_id=node_id, created=created)
