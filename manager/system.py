"""The System service: `shoal version` and `shoal info`, answered from this manager's view."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from common import pki
from common.api import system_pb2 as pb
from common.api import system_pb2_grpc
from common.convert.system import build_to_pb, info_to_pb
from common.grpc_errors import unary_errors
from common.info import ClusterInfo, ManagerNode
from common.model import Cluster, Node, NodeRole, Service, Task
from common.tls import Bundle
from common.version import this_build
from manager.auth import Authenticator
from manager.leadership import Leader, ManagerSet
from manager.store import ReadView


@dataclass(frozen=True)
class ManagerFacts:
    """What the answering manager knows of itself, beside the store."""

    node_id: str
    addr: str
    store_backend: str
    # The SQLite file, or etcd's endpoints and the store's prefix.
    store_location: str
    heartbeat_period: timedelta
    ca_expiry: datetime
    node_cert_lifetime: timedelta
    # Its own node's identity, renewed as it goes: read when asked.
    node_dir: Path


def summarize(view: ReadView, facts: ManagerFacts, leader: Leader | None) -> ClusterInfo:
    nodes = view.objects(Node)
    tasks = view.objects(Task)
    leader_id = leader.node_id if leader is not None else ""
    managers = tuple(
        ManagerNode(n.id, n.description.hostname, n.addr, leader=n.id == leader_id)
        for n in sorted(nodes, key=lambda n: n.description.hostname)
        if n.role is NodeRole.MANAGER
    )
    return ClusterInfo(
        cluster_id=view.objects(Cluster)[0].id,
        node_id=facts.node_id,
        manager_addr=facts.addr,
        managers=managers,
        nodes=len(nodes),
        node_states=_count(n.state.name.lower() for n in nodes),
        node_availabilities=_count(n.availability.name.lower() for n in nodes),
        services=len(view.objects(Service)),
        tasks=len(tasks),
        task_states=_count(t.status.state.name.lower() for t in tasks),
        store_backend=facts.store_backend,
        store_location=facts.store_location,
        heartbeat_period=facts.heartbeat_period,
        ca_expiry=facts.ca_expiry,
        node_cert_lifetime=facts.node_cert_lifetime,
        node_cert_expiry=_expiry(facts.node_dir),
        server=this_build(),
    )


def _count(keys: Any) -> dict[str, int]:
    return dict(sorted(Counter(keys).items()))


def _expiry(directory: Path) -> datetime | None:
    if not Bundle.present(directory):
        return None
    return pki.load_cert(Bundle.load(directory).cert_pem).not_valid_after_utc


class System(system_pb2_grpc.SystemServicer):
    def __init__(
        self, store: ReadView, facts: ManagerFacts, auth: Authenticator, managers: ManagerSet
    ) -> None:
        self._store = store
        self._managers = managers
        self._facts = facts
        self._auth = auth

    @unary_errors
    async def Version(self, request: pb.VersionRequest, context: Any) -> pb.Build:
        self._auth.admin(context)
        return build_to_pb(this_build())

    @unary_errors
    async def Info(self, request: pb.InfoRequest, context: Any) -> pb.ClusterInfo:
        self._auth.admin(context)
        return info_to_pb(summarize(self._store, self._facts, self._managers.leader()))
