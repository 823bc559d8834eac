"""Joining a cluster: pin the CA with the token's digest, then trade a CSR for a certificate."""

from __future__ import annotations

import asyncio

import grpc
import structlog

from common import convert, message_limits, pki, tokens
from common.api import join_pb2 as pb
from common.api import join_pb2_grpc
from common.backoff import Backoff
from common.errors import ResourceExhausted, Unauthenticated, Unavailable
from common.grpc_errors import from_rpc_error
from common.model import NodeDescription
from common.tls import Bundle

log = structlog.get_logger("join")

CALL_DEADLINE = 5.0


async def join(
    token_text: str,
    join_addr: str,
    description: NodeDescription,
    role: str = pki.ROLE_WORKER,
) -> tuple[pki.Subject, Bundle]:
    """Join through the manager's join port, retrying while it is unreachable or busy.

    role: the role asked for, ROLE_WORKER (`agent join`) or ROLE_MANAGER (`manager join`).
    Who the node is (its ID, cluster and role) is read from the certificate once it verifies
    against the pinned CA, not from the answer's plaintext fields.

    The channel is plaintext on purpose: the CA certificate is public and checked against the
    token's digest, and the token's secret is only ever sent as a proof bound to this request.
    """
    token = tokens.parse(token_text)
    backoff = Backoff(0.1, 2.0)
    while True:
        try:
            return await _attempt(token, join_addr, description, role)
        except Unavailable as exc:
            log.warning("manager unreachable, retrying", manager=join_addr, error=str(exc))
        except ResourceExhausted as exc:
            # The join port limits calls per address; nodes joining in bulk take turns.
            log.warning("manager busy, retrying", manager=join_addr, error=str(exc))
        await asyncio.sleep(backoff.next_delay())


async def _attempt(
    token: tokens.JoinToken, join_addr: str, description: NodeDescription, role: str
) -> tuple[pki.Subject, Bundle]:
    async with grpc.aio.insecure_channel(join_addr, options=message_limits.OPTIONS) as channel:
        stub = join_pb2_grpc.JoinStub(channel)
        try:
            offer: pb.GetCAResponse = await stub.GetCA(
                pb.GetCARequest(token_digest=token.digest), timeout=CALL_DEADLINE
            )
            ca = pki.load_cert(offer.ca_pem)
            if tokens.digest_of(pki.der(ca)) != token.digest:
                raise Unauthenticated(
                    f"the manager at {join_addr} is not the one this token names (its CA"
                    " certificate does not match the token): check the token and the address"
                )
            key = pki.new_key()
            csr = pki.new_csr(key)
            request = pb.JoinRequest(
                csr_pem=csr,
                nonce=offer.nonce,
                proof=pki.join_proof(token.secret, csr, offer.nonce),
                description=convert.description_to_pb(description),
                as_manager=role == pki.ROLE_MANAGER,
            )
            answer: pb.JoinResponse = await stub.Join(request, timeout=CALL_DEADLINE)
        except grpc.aio.AioRpcError as exc:
            raise from_rpc_error(exc) from None
    cert = pki.load_cert(answer.cert_pem)
    if not pki.issued_by(cert, ca) or not pki.matches_key(cert, key):
        raise Unauthenticated("the manager answered with a certificate that does not verify")
    subject = pki.subject_of(cert)
    if subject.role != role:
        raise Unauthenticated(f"the manager issued a {subject.role} certificate, not a {role}'s")
    bundle = Bundle(ca_pem=offer.ca_pem, cert_pem=answer.cert_pem, key_pem=pki.key_pem(key))
    return subject, bundle
