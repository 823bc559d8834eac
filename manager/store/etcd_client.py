"""An asyncio etcd v3 client over grpc.aio: ranges, transactions, watches and leases.

It speaks etcd's gRPC API through the stubs compiled from proto/etcd (the only etcd stubs a
manager loads). Each endpoint gets its own channel; a call that finds its endpoint unreachable
moves the client on to the next one, so the call after it tries another member.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TypeVar

import grpc
from grpc import aio

from common.api.etcd import kv_pb2, rpc_pb2, rpc_pb2_grpc
from common.errors import Unavailable
from manager.store.etcd_tls import EtcdTls

# One call's deadline: etcd answers in milliseconds when it has a quorum, and a manager must
# learn soon that it has none.
CALL_TIMEOUT = 5.0
# One attempt's share of it, for the calls that may be sent again (reads, and writes a compare
# makes safe to repeat). A member whose etcd leader just died takes a write in and forwards it to
# the dead leader, where it is lost: the member never answers, and only the deadline ends the
# call. So an attempt gives up soon and the call goes to another member, which by then knows
# the new leader (etcd elects one within about a second).
ATTEMPT_TIMEOUT = 1.5
# Keys per Range call while loading a prefix: keeps each answer well under gRPC's 4 MiB.
PAGE = 500
# A watch catching up sends up to 1,000 revisions in one message, each as large as a commit
# etcd accepts (its --max-request-bytes): far more than gRPC's default 4 MiB.
# gRPC's words for a call that found no connection to its endpoint, and so was never sent.
NOT_SENT = "failed to connect to all addresses"
R = TypeVar("R")
# The failures after which a call that may be sent again goes to the next member.
_RESENT = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
CHANNEL_OPTIONS = [("grpc.max_receive_message_length", 256 * 1024 * 1024)]


def prefix_end(prefix: bytes) -> bytes:
    """The range_end that makes a Range or watch cover every key starting with prefix."""
    end = bytearray(prefix)
    while end:
        if end[-1] < 0xFF:
            end[-1] += 1
            return bytes(end)
        end.pop()
    return b"\0"


# What gRPC's details say when the TLS handshake failed, and what that means to the user.
_TLS_REFUSALS = {
    # etcd's --client-cert-auth turned the client away: no certificate, or one it did not sign.
    "TSI_DATA_CORRUPTED": "refused this manager's TLS client certificate (--etcd-cert and"
    " --etcd-key must be a pair signed by the CA etcd trusts, its --trusted-ca-file)",
    "CERTIFICATE_VERIFY_FAILED": "is not trusted: its certificate is not signed by"
    " --etcd-cacert, or does not name the endpoint's host",
}


def unavailable(exc: aio.AioRpcError, endpoint: str, tls: bool = False) -> Unavailable:
    details = exc.details() or ""
    where = f"the state store (etcd at {endpoint})"
    for mark, meaning in _TLS_REFUSALS.items():
        if tls and mark in details:
            return Unavailable(f"{where} {meaning}")
    if not tls and NOT_SENT in details and "Socket closed" in details:
        # A plaintext client at a member that serves TLS sees only its connection closed.
        details += " (if etcd serves TLS: etcds:// and --etcd-cacert)"
    # etcd's own limit, 128 by default: a commit (a placement pass) can hold more objects.
    hint = " (start etcd with a higher --max-txn-ops)" if "too many operations" in details else ""
    return Unavailable(f"{where} failed: {exc.code().name} {details}{hint}")


class EtcdClient:
    def __init__(
        self,
        endpoints: Sequence[str],
        timeout: float = CALL_TIMEOUT,
        tls: EtcdTls | None = None,
    ) -> None:
        if not endpoints:
            raise ValueError("no etcd endpoint")
        self.endpoints = list(endpoints)
        self._timeout = timeout
        self._tls = tls is not None
        if tls is None:
            self._channels = [aio.insecure_channel(e, CHANNEL_OPTIONS) for e in self.endpoints]
        else:
            creds = tls.credentials()
            self._channels = [aio.secure_channel(e, creds, CHANNEL_OPTIONS) for e in self.endpoints]
        self._current = 0

    @property
    def endpoint(self) -> str:
        return self.endpoints[self._current]

    def _channel(self) -> aio.Channel:
        return self._channels[self._current]

    def failed(self, exc: aio.AioRpcError) -> Unavailable:
        """The error for a failed call; an unreachable endpoint makes the next one current."""
        error = unavailable(exc, self.endpoint, self._tls)
        if exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            self._current = (self._current + 1) % len(self._channels)
        return error

    async def _unary(
        self, call: Callable[[aio.Channel, float], Awaitable[R]], resend: bool = False
    ) -> R:
        """call on the current endpoint, and on the next ones while it could not even connect:
        a call that never left is safe to send elsewhere, so a dead member costs nothing while
        another answers. Any other failure may have been applied, and is the caller's to judge,
        unless resend says the call may be sent again whatever became of it: then each attempt
        has ATTEMPT_TIMEOUT, and a call that timed out or lost its member goes to the next, for
        as long as the call's deadline lasts."""
        ends = time.monotonic() + self._timeout
        tries = len(self._channels)
        # Members in a row that could not be reached: once all of them, none will be.
        unreached = 0
        while True:
            remaining = ends - time.monotonic()
            deadline = min(remaining, ATTEMPT_TIMEOUT) if resend else remaining
            try:
                return await call(self._channel(), max(deadline, 0.0))
            except aio.AioRpcError as exc:
                tries -= 1
                error = self.failed(exc)
                unsent = NOT_SENT in (exc.details() or "")
                unreached = unreached + 1 if unsent else 0
                if unreached == len(self._channels):
                    raise error from None
                again = resend and exc.code() in _RESENT and ends - time.monotonic() > 0.05
                if not again and (not tries or not unsent):
                    raise error from None

    async def _range(self, request: rpc_pb2.RangeRequest) -> rpc_pb2.RangeResponse:
        return await self._unary(
            lambda channel, timeout: rpc_pb2_grpc.KVStub(channel).Range(request, timeout=timeout),
            resend=True,
        )

    async def range_prefix(
        self, prefix: bytes, revision: int = 0
    ) -> tuple[list[kv_pb2.KeyValue], int]:
        """Every key under prefix as of one revision (default: the newest), and that revision."""
        kvs: list[kv_pb2.KeyValue] = []
        start, end = prefix, prefix_end(prefix)
        while True:
            request = rpc_pb2.RangeRequest(key=start, range_end=end, limit=PAGE, revision=revision)
            answer = await self._range(request)
            kvs.extend(answer.kvs)
            # Later pages read the revision the first one saw, so the whole is one snapshot.
            revision = answer.header.revision
            if not answer.more:
                return kvs, revision
            start = answer.kvs[-1].key + b"\0"

    async def txn(
        self,
        compare: Sequence[rpc_pb2.Compare],
        success: Sequence[rpc_pb2.RequestOp],
        failure: Sequence[rpc_pb2.RequestOp] = (),
        resend: bool = False,
    ) -> rpc_pb2.TxnResponse:
        """resend: the caller's compares make a second copy fail if the first was applied, and
        it tells that failure from another's write (EtcdStore's commits)."""
        request = rpc_pb2.TxnRequest(compare=compare, success=success, failure=failure)
        return await self._unary(
            lambda channel, timeout: rpc_pb2_grpc.KVStub(channel).Txn(request, timeout=timeout),
            resend=resend,
        )

    async def watch(
        self, prefix: bytes, start_revision: int
    ) -> AsyncIterator[rpc_pb2.WatchResponse]:
        """Responses of one watch on prefix from start_revision, until the stream breaks
        (Unavailable) or etcd cancels it (the last response, canceled, is yielded)."""
        create = rpc_pb2.WatchCreateRequest(
            key=prefix, range_end=prefix_end(prefix), start_revision=start_revision
        )
        stub = rpc_pb2_grpc.WatchStub(self._channel())
        call = stub.Watch(iter([rpc_pb2.WatchRequest(create_request=create)]))
        try:
            async for answer in call:
                yield answer
                if answer.canceled:
                    return
        except aio.AioRpcError as exc:
            raise self.failed(exc) from None
        finally:
            call.cancel()
        raise Unavailable(f"the state store (etcd at {self.endpoint}) ended a watch")

    async def lease_grant(self, ttl: int) -> int:
        """A new lease of ttl seconds; its ID."""
        request = rpc_pb2.LeaseGrantRequest(TTL=ttl)
        answer = await self._unary(
            lambda channel, timeout: rpc_pb2_grpc.LeaseStub(channel).LeaseGrant(
                request, timeout=timeout
            )
        )
        return answer.ID

    async def lease_keep_alive(self, lease: int) -> int:
        """Renew the lease once; its remaining TTL in seconds, 0 when it has expired."""
        stub = rpc_pb2_grpc.LeaseStub(self._channel())
        call = stub.LeaseKeepAlive(iter([rpc_pb2.LeaseKeepAliveRequest(ID=lease)]))
        try:
            async for answer in call:
                return answer.TTL
        except aio.AioRpcError as exc:
            raise self.failed(exc) from None
        finally:
            call.cancel()
        raise Unavailable(f"the state store (etcd at {self.endpoint}) ended a lease renewal")

    async def lease_revoke(self, lease: int) -> None:
        request = rpc_pb2.LeaseRevokeRequest(ID=lease)
        await self._unary(
            lambda channel, timeout: rpc_pb2_grpc.LeaseStub(channel).LeaseRevoke(
                request, timeout=timeout
            )
        )

    async def close(self) -> None:
        for channel in self._channels:
            await channel.close()
