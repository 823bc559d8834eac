"""Control calls on a follower: reads are served from its own copy of the state, writes (and the
calls that need the agents' sessions, which only the leader holds) go to the leader.

A follower passes the call's bytes on unchanged over a channel of its own to the leader, which
it authenticates with its manager node certificate: the Control API admits managers, the
follower has already checked its own caller, and no client credential is held or replayed.
The leader answers a forwarded write with the store revision that holds it, and the follower
answers its client only once its own copy has that revision, so a read that follows (from the
same client, on the same follower) sees the write.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol, TypeAlias

import grpc
import structlog

from common import keepalive, message_limits
from common.errors import ShoalError, Unavailable
from common.grpc_errors import code_for, from_rpc_error, trailing_kind
from common.no_leader import REFUSAL
from common.tls import CURRENT, Bundle
from manager.leadership.keys import Leader
from manager.leadership.managers import ManagerSet

log = structlog.get_logger("leadership")

# The calls a follower sends to the leader: every write, and the logs (asked of the agents).
FORWARDED = frozenset(
    f"/shoal.v1.{name}"
    for name in (
        "Control/CreateService",
        "Control/UpdateService",
        "Control/RollbackService",
        "Control/RebalanceService",
        "Control/RemoveService",
        "Control/UpdateNode",
        "Control/RemoveNode",
        "Control/GetJoinToken",
        "Control/UpdateAutolock",
        "Control/GetUnlockKey",
        "Control/CreateNetwork",
        "Control/RemoveNetwork",
        "Control/CreateData",
        "Control/RemoveData",
        "Control/RotateData",
        "Control/UpdateDataLabels",
        "Control/ServiceLogs",
        "AdminCertificates/Rotate",
        "AdminCertificates/RotateCA",
    )
)
# Set on a forwarded call: a manager that gets one and does not lead refuses it rather than
# passing it on again.
FORWARDED_METADATA = "shoal-forwarded"
# On the leader's answer to a forwarded write: the store revision that holds it.
REVISION_METADATA = "shoal-revision"
# A forwarded unary call's deadline when its client gave none.
DEFAULT_DEADLINE = 30.0
# How long a call waits for the connection to the leader before it is refused.
CONNECT_WAIT = 3.0

Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"
Context: TypeAlias = "grpc.aio.ServicerContext[Any, Any]"


class Revisions(Protocol):
    @property
    def revision(self) -> int: ...

    async def reached(self, revision: int) -> None: ...


class LeaderForwarding(grpc.aio.ServerInterceptor):
    def __init__(self, managers: ManagerSet, store: Revisions, node_dir: Path) -> None:
        """node_dir: this manager's own node bundle, presented to the leader."""
        self._managers = managers
        self._store = store
        self._node_dir = node_dir
        # Per leader address: the bundle version it was made with, and the channel.
        self._channels: dict[str, tuple[str, grpc.aio.Channel]] = {}
        # Channels made with a bundle since renewed: their calls run on, closed at the end.
        self._retired: list[grpc.aio.Channel] = []

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        handler = await continuation(handler_call_details)
        method: str = handler_call_details.method
        if handler is None or method not in FORWARDED:
            return handler
        # No (de)serializers: the call's bytes go to the leader as they came.
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(self._unary(method, handler))
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(self._stream(method, handler))
        return handler

    def _unary(self, method: str, handler: Handler) -> Any:
        behavior: Any = handler.unary_unary
        decode: Any = handler.request_deserializer
        encode: Any = handler.response_serializer

        async def call(raw: bytes, context: Context) -> bytes:
            if self._managers.leads():
                answer = await behavior(decode(raw), context)
                if _forwarded(context):
                    context.set_trailing_metadata(((REVISION_METADATA, str(self._store.revision)),))
                return bytes(encode(answer))
            await self._refuse_twice(context)
            try:
                return await self.unary_to_leader(method, raw, context.time_remaining())
            except ShoalError as exc:
                await context.abort(code_for(exc), str(exc), trailing_kind(exc))

        return call

    def _stream(self, method: str, handler: Handler) -> Any:
        behavior: Any = handler.unary_stream
        decode: Any = handler.request_deserializer
        encode: Any = handler.response_serializer

        async def call(raw: bytes, context: Context) -> AsyncIterator[bytes]:
            if self._managers.leads():
                async for item in behavior(decode(raw), context):
                    yield bytes(encode(item))
                return
            await self._refuse_twice(context)
            try:
                async for item in self.stream_to_leader(method, raw, context.time_remaining()):
                    yield item
            except ShoalError as exc:
                await context.abort(code_for(exc), str(exc), trailing_kind(exc))

        return call

    async def _refuse_twice(self, context: Context) -> None:
        """A call forwarded here already is refused: the sender took this manager for the
        leader, and it no longer is."""
        if _forwarded(context):
            await context.abort(grpc.StatusCode.UNAVAILABLE, REFUSAL)

    def _leader(self) -> Leader:
        leader = self._managers.leader()
        if leader is None:
            raise Unavailable(REFUSAL)
        return leader

    async def unary_to_leader(self, method: str, raw: bytes, deadline: float | None) -> bytes:
        """The leader's answer to the unary call method (a full gRPC method name) with the
        request bytes raw, once this manager's copy holds the write; the leader's refusal
        raised as the ShoalError it was. Also what the Docker API's writes on a follower use."""
        leader = self._leader()
        channel = await self._connected(leader, deadline)
        try:
            caller: Any = channel.unary_unary(method)
            outgoing = caller(
                raw,
                metadata=((FORWARDED_METADATA, "1"),),
                timeout=DEFAULT_DEADLINE if deadline is None else deadline,
            )
            answer = await outgoing
            trailing = await outgoing.trailing_metadata()
        except grpc.aio.AioRpcError as exc:
            raise _relayed(exc, leader) from None
        await self._catch_up(trailing)
        return bytes(answer)

    async def stream_to_leader(
        self, method: str, raw: bytes, deadline: float | None
    ) -> AsyncIterator[bytes]:
        """The leader's messages for the streaming call method, as unary_to_leader."""
        leader = self._leader()
        channel = await self._connected(leader, deadline)
        try:
            caller: Any = channel.unary_stream(method)
            outgoing = caller(raw, metadata=((FORWARDED_METADATA, "1"),), timeout=deadline)
            async for item in outgoing:
                yield bytes(item)
        except grpc.aio.AioRpcError as exc:
            raise _relayed(exc, leader) from None

    async def _catch_up(self, trailing: Any) -> None:
        revision = dict(trailing or ()).get(REVISION_METADATA)
        if revision is None or not str(revision).isdigit():
            return
        try:
            await self._store.reached(int(revision))
        except ShoalError as exc:
            # The write is made: the answer says so, though a read here may not show it yet.
            log.warning("forwarded write not yet in this manager's copy", error=str(exc))

    async def _connected(self, leader: Leader, deadline: float | None) -> grpc.aio.Channel:
        """The channel to the leader, once connected. One that cannot connect (the leader died,
        or is cut off) was surely not sent the call: the refusal says no manager leads, which
        its client may send again, to whichever manager leads once the election is over."""
        channel = await self._channel(leader.addr)
        wait = CONNECT_WAIT if deadline is None else min(CONNECT_WAIT, deadline)
        settled = (grpc.ChannelConnectivity.READY, grpc.ChannelConnectivity.TRANSIENT_FAILURE)
        state = channel.get_state(try_to_connect=True)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait):
                while state not in settled:
                    await channel.wait_for_state_change(state)
                    state = channel.get_state(try_to_connect=True)
        if state is not grpc.ChannelConnectivity.READY:
            log.info("the leader cannot be reached", leader=leader.node_id, addr=leader.addr)
            raise Unavailable(REFUSAL)
        return channel

    async def _channel(self, addr: str) -> grpc.aio.Channel:
        version = str((self._node_dir / CURRENT).resolve())
        known = self._channels.get(addr)
        if known is not None:
            if known[1].get_state() is grpc.ChannelConnectivity.TRANSIENT_FAILURE:
                # Lost its connection, so no call runs on it: replaced rather than left to its
                # reconnect backoff (up to minutes), a leader back at the same address is
                # reached at once.
                await known[1].close()
            elif known[0] == version:
                return known[1]
            else:
                self._retired.append(known[1])
        credentials = Bundle.load(self._node_dir).channel_credentials()
        # Keepalive: a leader cut off mid-call fails the call within seconds, not at its
        # deadline, and the next call finds the channel failed and connects anew.
        channel = grpc.aio.secure_channel(
            addr, credentials, [*keepalive.OPTIONS, *message_limits.OPTIONS]
        )
        self._channels[addr] = (version, channel)
        return channel

    async def close(self) -> None:
        for channel in [*self._retired, *(c for _, c in self._channels.values())]:
            await channel.close()


def _forwarded(context: Context) -> bool:
    return any(key == FORWARDED_METADATA for key, _ in context.invocation_metadata() or ())


def _relayed(exc: grpc.aio.AioRpcError, leader: Leader) -> ShoalError:
    if exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        return Unavailable(
            f"the leader (node {leader.node_id} at {leader.addr}) did not answer: {exc.details()}"
        )
    return from_rpc_error(exc)
