"""The Join service: the two calls a node makes before it has a certificate."""

from __future__ import annotations

import secrets
import time
from datetime import timedelta
from typing import Any

import structlog

from common import convert, pki
from common.api import join_pb2 as pb
from common.api import join_pb2_grpc
from common.errors import InvalidArgument, PermissionDenied, Unauthenticated
from common.grpc_errors import unary_errors
from common.ids import new_id
from common.model import Cluster, Node, NodeRole, NodeState
from common.netaddr import peer_host
from manager.ca import ClusterCA
from manager.store import Put, StateStore

log = structlog.get_logger("join")

NONCE_TTL = 60.0
# Unanswered nonces kept at most: a flood of GetCA calls cannot grow memory without bound.
MAX_NONCES = 10_000


class JoinService(join_pb2_grpc.JoinServicer):
    def __init__(self, store: StateStore, ca: ClusterCA, cert_lifetime: timedelta) -> None:
        self._store = store
        self._ca = ca
        self._lifetime = cert_lifetime
        self._nonces: dict[bytes, float] = {}

    def _cluster(self) -> Cluster:
        return self._store.objects(Cluster)[0]

    @unary_errors
    async def GetCA(self, request: pb.GetCARequest, context: Any) -> pb.GetCAResponse:
        now = time.monotonic()
        self._nonces = {n: t for n, t in self._nonces.items() if t > now}
        if len(self._nonces) >= MAX_NONCES:
            self._nonces.pop(next(iter(self._nonces)))
        nonce = secrets.token_bytes(16)
        self._nonces[nonce] = now + NONCE_TTL
        return pb.GetCAResponse(ca_pem=self._ca.pem, nonce=nonce)

    @unary_errors
    async def Join(self, request: pb.JoinRequest, context: Any) -> pb.JoinResponse:
        expires = self._nonces.pop(request.nonce, None)
        if expires is None or expires < time.monotonic():
            raise Unauthenticated("the join request expired or was already used: try again")
        public_key = pki.public_key_of_csr(request.csr_pem)
        cluster = self._cluster()
        if pki.proof_matches(request.proof, cluster.manager_secret, request.csr_pem, request.nonce):
            raise PermissionDenied(
                "joining as a manager is not supported yet: use the worker token"
            )
        if not pki.proof_matches(
            request.proof, cluster.worker_secret, request.csr_pem, request.nonce
        ):
            raise Unauthenticated("invalid join token")
        description = convert.description_from_pb(request.description)
        if not description.hostname:
            raise InvalidArgument("the joining node sent no hostname")
        node = Node(
            id=new_id(),
            role=NodeRole.WORKER,
            state=NodeState.UNKNOWN,
            description=description,
            addr=peer_host(context.peer()),
        )
        cert = self._ca.issue(public_key, node.id, pki.ROLE_WORKER, cluster.id, self._lifetime)
        await self._store.commit([Put(node)])
        log.info("node joined", node_id=node.id, hostname=description.hostname)
        return pb.JoinResponse(node_id=node.id, cluster_id=cluster.id, cert_pem=pki.cert_pem(cert))
