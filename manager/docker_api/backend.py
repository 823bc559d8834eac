"""What the Docker API's handlers work with: the Control servicer's own methods, called in
process (the same validation and store path as the gRPC Control API, minus the gRPC edge), and
the manager's read-only view for what Control has no call for (a task by ID, /info).

On a follower, the calls the gRPC edge forwards to the leader (writes, and logs, which need the
agents' sessions) go to the leader the same way, through the same LeaderForwarding."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass

from common.api import control_pb2
from manager.auth import Authenticator
from manager.control import Control
from manager.docker_api.distribution import Distribution
from manager.leadership import ManagerSet
from manager.leadership.forward import FORWARDED, LeaderForwarding
from manager.store import ReadView
from manager.system import ManagerFacts
from manager.trust import ClusterTrust

Req = TypeVar("Req")
Resp = TypeVar("Resp")


class _InProcess:
    """Stands in for the gRPC call context. The servicer reads no caller from it (authorization
    is the edge's, done here before the call); a stream that sends its headers has accepted the
    call, as a gRPC client would see it."""

    def __init__(self) -> None:
        self.accepted = asyncio.Event()

    async def send_initial_metadata(self, metadata: Any) -> None:
        self.accepted.set()


@dataclass(frozen=True)
class Backend:
    control: Control
    view: ReadView
    facts: ManagerFacts
    auth: Authenticator
    # Who leads, for `docker info`'s managers.
    managers: ManagerSet
    # The roots trusted now: an SSL context only adds roots, so a root rotated out
    # (`shoal ca --rotate`) is refused here, at each request.
    trust: ClusterTrust
    # With several managers: what sends a follower's writes to the leader.
    forwarding: LeaderForwarding | None = None
    # This manager's node's engine asking registries for image digests; None: no engine.
    distribution: Distribution | None = None

    def _to_leader(self, method: Callable[..., Any]) -> str | None:
        """The gRPC method name to send method's call to the leader with; None when this
        manager answers it itself."""
        name = f"/shoal.v1.Control/{method.__name__}"
        if self.forwarding is None or name not in FORWARDED or self.managers.leads():
            return None
        return name

    async def call(
        self, method: Callable[[Control, Req, Any], Awaitable[Resp]], request: Req
    ) -> Resp:
        """A unary Control method such as Control.CreateService: its ShoalError comes out as
        raised, where the gRPC edge would turn it into a status."""
        forwarded = self._to_leader(method)
        if forwarded is not None and self.forwarding is not None:
            assert isinstance(request, Message)
            raw = await self.forwarding.unary_to_leader(
                forwarded, request.SerializeToString(), None
            )
            reply: Resp = _answer_type(method.__name__).FromString(raw)
            return reply
        handler = inspect.unwrap(method)
        answer: Resp = await handler(self.control, request, _InProcess())
        return answer

    def stream(
        self, method: Callable[[Control, Req, Any], AsyncIterator[Resp]], request: Req
    ) -> AsyncGenerator[Resp, None]:
        """A streaming Control method, not yet started."""
        forwarded = self._to_leader(method)
        if forwarded is not None and self.forwarding is not None:
            assert isinstance(request, Message)
            raw = self.forwarding.stream_to_leader(forwarded, request.SerializeToString(), None)
            return _decoded(raw, _answer_type(method.__name__))
        handler = inspect.unwrap(method)
        messages = handler(self.control, request, _InProcess())
        assert isinstance(messages, AsyncGenerator)
        return messages

    async def open_stream(
        self, method: Callable[[Control, Req, Any], AsyncIterator[Resp]], request: Req
    ) -> AsyncGenerator[Resp, None]:
        """A streaming Control method that sends its headers once it accepted the call (Events):
        returns then, or raises the ShoalError that refused it, so the refusal can still be an
        HTTP status rather than a broken stream."""
        context = _InProcess()
        messages = inspect.unwrap(method)(self.control, request, context)
        first = asyncio.ensure_future(anext(messages))
        accepted = asyncio.ensure_future(context.accepted.wait())
        await asyncio.wait((first, accepted), return_when=asyncio.FIRST_COMPLETED)
        accepted.cancel()
        if first.done() and first.exception() is not None:
            error = first.exception()
            if not isinstance(error, StopAsyncIteration):
                assert error is not None
                raise error
        return _rest(first, messages)


def _answer_type(name: str) -> Any:
    """The message class Control's method name answers with."""
    described = control_pb2.DESCRIPTOR.services_by_name["Control"].methods_by_name[name]
    return GetMessageClass(described.output_type)


async def _decoded(raw: AsyncIterator[bytes], answer_type: Any) -> AsyncGenerator[Any, None]:
    async for item in raw:
        yield answer_type.FromString(item)


async def _rest(
    first: asyncio.Future[Resp], messages: AsyncIterator[Resp]
) -> AsyncGenerator[Resp, None]:
    try:
        with contextlib.suppress(StopAsyncIteration):
            yield await first
            async for message in messages:
                yield message
    finally:
        if not first.done():
            first.cancel()
            # The generator runs in that future until it ends: only then can it be closed.
            await asyncio.wait((first,))
        aclose = getattr(messages, "aclose", None)
        if aclose is not None:
            await aclose()
