"""The Join service: the two calls a node makes before it has a certificate.

Anyone who reaches the join port may call it, so every call is cheap for the manager before the
caller has proved it holds a token: a rate limit per peer address, a stateless nonce, and the
proof (an HMAC) checked before the certificate request is parsed. Parsing and signing run on a
small executor of their own, off the event loop that reads the nodes' heartbeats, and gRPC
refuses calls beyond a global cap on those in progress.

Among several managers a node may join through any of them: a follower passes both calls on to
the leader's join port (the leader's nonces are its own, and only the leader writes the node),
after applying its own per-peer limit. The leader then sees the follower as the peer; the node's
address is corrected when its session opens.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any, TypeVar

import grpc
import structlog
from google.protobuf.message import Message

from common import convert, pki
from common.api import join_pb2 as pb
from common.api import join_pb2_grpc
from common.errors import (
    FailedPrecondition,
    InvalidArgument,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
)
from common.grpc_errors import from_rpc_error, unary_errors
from common.ids import new_id
from common.model import Cluster, Node, NodeRole, NodeState
from common.netaddr import peer_host
from common.no_leader import REFUSAL
from common.ports import join_addr
from manager import ca_rotation, join_secrets
from manager.data_key import DataKey
from manager.leadership.forward import FORWARDED_METADATA
from manager.leadership.managers import ManagerSet
from manager.nonces import Nonces
from manager.rate_limit import PeerRateLimit
from manager.store import Put, StateStore
from manager.trust import ClusterTrust

log = structlog.get_logger("join")

# Per peer address and per call kind: 20 a second after a burst of 40. A scale benchmark joins
# 1,000 hollow agents from one address, which takes under a minute at this rate.
PEER_RATE = 20.0
PEER_BURST = 40.0
# Join calls in progress at once, all peers together; gRPC answers RESOURCE_EXHAUSTED beyond.
MAX_CONCURRENT = 64
# A request is a CSR and a node description, a few KiB: nothing bigger is read.
MAX_MESSAGE = 64 * 1024
SIGNERS = 2
# A join passed on to the leader: as long as the joining node waits for an answer.
FORWARD_DEADLINE = 10.0
M = TypeVar("M", bound=Message)


class JoinService(join_pb2_grpc.JoinServicer):
    def __init__(
        self,
        store: StateStore,
        trust: ClusterTrust,
        data_key: DataKey,
        cert_lifetime: timedelta,
        store_url: str | None = None,
        managers: ManagerSet | None = None,
    ) -> None:
        """store_url: the etcd store's, which lets managers join; None (SQLite) refuses them.
        managers: who leads, among several managers; None when this one is alone."""
        self._store = store
        self._data_key = data_key
        self._managers = managers
        self._store_url = store_url
        self._trust = trust
        self._lifetime = cert_lifetime
        self._nonces = Nonces()
        self._get_ca_limit = PeerRateLimit(PEER_RATE, PEER_BURST)
        self._join_limit = PeerRateLimit(PEER_RATE, PEER_BURST)
        self._signer = ThreadPoolExecutor(SIGNERS, thread_name_prefix="join-sign")

    def close(self) -> None:
        self._signer.shutdown(wait=False, cancel_futures=True)

    def _cluster(self) -> Cluster:
        return self._store.objects(Cluster)[0]

    @staticmethod
    def _limit(limit: PeerRateLimit, context: Any) -> None:
        if not limit.allow(peer_host(context.peer())):
            raise ResourceExhausted("too many join calls from this address: retry in a moment")

    def _leader_join_addr(self, context: Any) -> str | None:
        """The leader's join port when this manager does not lead; None when it does."""
        if self._managers is None or self._managers.leads():
            return None
        leader = self._managers.leader()
        forwarded = any(k == FORWARDED_METADATA for k, _ in context.invocation_metadata() or ())
        # A forwarded call to a manager that no longer leads is refused, not passed on again.
        if leader is None or forwarded:
            raise Unavailable(REFUSAL)
        return join_addr(leader.addr)

    @unary_errors
    async def GetCA(self, request: pb.GetCARequest, context: Any) -> pb.GetCAResponse:
        self._limit(self._get_ca_limit, context)
        leader = self._leader_join_addr(context)
        if leader is not None:
            return await _forward(leader, "GetCA", request, pb.GetCAResponse)
        cluster = self._cluster()
        if (
            request.token_digest and ca_rotation.token_refused(cluster, request.token_digest)
        ) or request.node_root_digest in cluster.retired_digests:
            raise FailedPrecondition(ca_rotation.ROTATED_OUT)
        # The root that signs first (the one the tokens name), then the old one during a
        # rotation, so that a node joining now also trusts the servers' certificates.
        return pb.GetCAResponse(ca_pem=self._trust.roots_pem, nonce=self._nonces.issue())

    @unary_errors
    async def Join(self, request: pb.JoinRequest, context: Any) -> pb.JoinResponse:
        self._limit(self._join_limit, context)
        leader = self._leader_join_addr(context)
        if leader is not None:
            return await _forward(leader, "Join", request, pb.JoinResponse)
        self._nonces.check(request.nonce)
        cluster = self._cluster()
        role = self._role(cluster, request)
        description = convert.description_from_pb(request.description)
        if not description.hostname:
            raise InvalidArgument("the joining node sent no hostname")
        node = Node(
            id=new_id(),
            role=NodeRole.MANAGER if role == pki.ROLE_MANAGER else NodeRole.WORKER,
            state=NodeState.UNKNOWN,
            description=description,
            addr=peer_host(context.peer()),
            cert_root=cluster.digest,
        )
        cert = await asyncio.get_running_loop().run_in_executor(
            self._signer, self._sign, request.csr_pem, node.id, role
        )
        await self._store.commit([Put(node)])
        log.info("node joined", node_id=node.id, hostname=description.hostname, role=role)
        return pb.JoinResponse(node_id=node.id, cluster_id=cluster.id, cert_pem=cert)

    def _role(self, cluster: Cluster, request: pb.JoinRequest) -> str:
        """The role the proof's token admits, if it is the one asked for."""
        proof, csr, nonce = request.proof, request.csr_pem, request.nonce
        manager_secret = join_secrets.secret(self._data_key, cluster, NodeRole.MANAGER)
        worker_secret = join_secrets.secret(self._data_key, cluster, NodeRole.WORKER)
        if pki.proof_matches(proof, manager_secret, csr, nonce):
            if not request.as_manager:
                raise PermissionDenied(
                    "this is the manager join token: add a manager with `manager join TOKEN"
                    " ADDR`, or a worker with the worker token (`shoal join-token worker`)"
                )
            if self._store_url is None:
                raise FailedPrecondition(
                    "this cluster keeps its state in SQLite on one manager: move it onto etcd"
                    " first (restart the manager with --store etcd://HOST:2379), then add managers"
                )
            return pki.ROLE_MANAGER
        if pki.proof_matches(proof, worker_secret, csr, nonce):
            if request.as_manager:
                raise PermissionDenied(
                    "this is the worker join token: `manager join` needs the manager token"
                    " (`shoal join-token manager`)"
                )
            return pki.ROLE_WORKER
        raise Unauthenticated("invalid join token")

    def _sign(self, csr_pem: bytes, node_id: str, role: str) -> bytes:
        """On the signer threads: the CSR is parsed only once the caller proved its token."""
        public_key = pki.public_key_of_csr(csr_pem)
        return self._trust.issue(public_key, node_id, role, self._lifetime)


async def _forward(addr: str, method: str, request: Message, answer: type[M]) -> M:
    """One call to the leader's join port, its refusal raised as this manager's own."""
    async with grpc.aio.insecure_channel(addr) as channel:
        call: Any = channel.unary_unary(
            f"/shoal.v1.Join/{method}",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=answer.FromString,
        )
        try:
            reply: M = await call(
                request, metadata=((FORWARDED_METADATA, "1"),), timeout=FORWARD_DEADLINE
            )
        except grpc.aio.AioRpcError as exc:
            raise from_rpc_error(exc) from None
        return reply


def join_server(service: JoinService) -> grpc.aio.Server:
    server = grpc.aio.server(
        maximum_concurrent_rpcs=MAX_CONCURRENT,
        options=[("grpc.max_receive_message_length", MAX_MESSAGE)],
    )
    join_pb2_grpc.add_JoinServicer_to_server(service, server)
    return server
