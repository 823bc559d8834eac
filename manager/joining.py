"""`manager join TOKEN ADDR`: this host joins the cluster as a manager.

Two steps. The join port (plaintext, the token's proof, the CA pinned by the token's digest)
trades a CSR for a manager certificate, as a worker's join does. Then, presenting that
certificate on the manager's mutual-TLS port, it asks for what managers share: the store's URL,
the CA's certificate and key and the cluster data key (manager/membership.py). Everything is
checked before anything is written, so a refused or failed join leaves the state dir as it
was; once written, the state dir is one `manager serve --state-dir` resumes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import grpc

from common import identity, message_limits, pki, tokens
from common.api import dispatcher_pb2 as dpb
from common.api import dispatcher_pb2_grpc, membership_pb2_grpc
from common.api import membership_pb2 as pb
from common.errors import FailedPrecondition, InvalidArgument, Unauthenticated
from common.grpc_errors import from_rpc_error
from common.join_client import join
from common.model import NodeDescription
from common.netaddr import join_host_port, split_host_port
from common.ports import DEFAULT_PORT, join_addr
from common.tls import Bundle
from manager.bootstrap import CA_DIR, NODE_DIR
from manager.ca import ClusterCA
from manager.data_key import DataKey
from manager.store import saved_url
from manager.store.etcd_url import parse_url

CALL_DEADLINE = 10.0


@dataclass(frozen=True, repr=False)
class Joined:
    """What a manager's join gave it, checked; nothing of it on disk yet."""

    node: identity.Identity
    bundle: Bundle
    ca: ClusterCA
    data_key: DataKey
    store_url: str

    def __repr__(self) -> str:
        return f"Joined(node={self.node!r}, <keys redacted>)"

    def keep(self, state_dir: Path) -> None:
        """Into state_dir, where `manager serve --state-dir` finds them."""
        state_dir.mkdir(parents=True, exist_ok=True)
        state_dir.chmod(0o700)
        self.ca.save(state_dir / CA_DIR)
        self.data_key.save(state_dir)
        saved_url.save(state_dir, self.store_url)
        # Last: a node identity is what marks the state dir as joined.
        identity.save(state_dir / NODE_DIR, self.node, self.bundle)


async def join_manager(hostname: str, token: str, addr: str) -> Joined:
    tokens.parse(token)
    manager = join_host_port(*split_host_port(addr, DEFAULT_PORT))
    subject, bundle = await join(
        token, join_addr(manager), NodeDescription(hostname=hostname), pki.ROLE_MANAGER
    )
    return await _with_keys(manager, subject, bundle)


async def take_over(agent_state_dir: Path) -> Joined:
    """A promoted node: its agent's identity becomes a manager's. The node keeps its ID (and
    so its containers); a manager certificate for a new key comes from renewing with the
    agent's certificate, which the manager issues for the node's role, now manager."""
    known = identity.load(agent_state_dir)
    if known is None:
        raise InvalidArgument(f"no node identity in {agent_state_dir} to take over")
    agent = Bundle.load(agent_state_dir)
    key = pki.new_key()
    async with grpc.aio.secure_channel(
        known.manager, agent.channel_credentials(), options=message_limits.OPTIONS
    ) as channel:
        try:
            answer: dpb.RenewResponse = await dispatcher_pb2_grpc.DispatcherStub(channel).Renew(
                dpb.RenewRequest(csr_pem=pki.new_csr(key)), timeout=CALL_DEADLINE
            )
        except grpc.aio.AioRpcError as exc:
            raise from_rpc_error(exc) from None
    cert = pki.load_cert(answer.cert_pem)
    subject = pki.subject_of(cert)
    if not pki.issued_by(cert, pki.load_cert(agent.ca_pem)) or not pki.matches_key(cert, key):
        raise Unauthenticated("the manager answered with a certificate that does not verify")
    if subject.role != pki.ROLE_MANAGER or subject.node_id != known.node_id:
        raise FailedPrecondition(f"node {known.node_id} is not a manager: nothing to take over")
    bundle = Bundle(ca_pem=agent.ca_pem, cert_pem=answer.cert_pem, key_pem=pki.key_pem(key))
    return await _with_keys(known.manager, subject, bundle)


async def _with_keys(manager: str, subject: pki.Subject, bundle: Bundle) -> Joined:
    keys = await _manager_keys(manager, bundle)
    ca = ClusterCA.from_pem(keys.ca_cert_pem, keys.ca_key_pem)
    if pki.der(ca.cert) != pki.der(pki.load_cert(bundle.ca_pem)):
        raise Unauthenticated("the manager handed over a CA other than the one the token names")
    try:
        parse_url(keys.store_url)
    except ValueError as exc:
        raise InvalidArgument(f"the manager handed over an unusable store URL: {exc}") from None
    return Joined(
        node=identity.Identity(subject.node_id, subject.cluster_id, manager),
        bundle=bundle,
        ca=ca,
        data_key=DataKey(keys.data_key),
        store_url=keys.store_url,
    )


async def _manager_keys(manager: str, bundle: Bundle) -> pb.ManagerKeysResponse:
    async with grpc.aio.secure_channel(
        manager, bundle.channel_credentials(), options=message_limits.OPTIONS
    ) as channel:
        try:
            answer: pb.ManagerKeysResponse = await membership_pb2_grpc.MembershipStub(
                channel
            ).ManagerKeys(pb.ManagerKeysRequest(), timeout=CALL_DEADLINE)
        except grpc.aio.AioRpcError as exc:
            raise from_rpc_error(exc) from None
    return answer
