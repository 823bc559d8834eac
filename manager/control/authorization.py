"""Who may call the Control API: the admin bundle and manager nodes, never a worker. Checked at
the gRPC edge for every call, so no servicer method can forget it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeAlias

import grpc

from common.errors import ShoalError
from common.grpc_errors import code_for
from manager.auth import Authenticator

CONTROL_PREFIX = "/shoal.v1.Control/"

Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"
Context: TypeAlias = "grpc.aio.ServicerContext[Any, Any]"


class AdminOnly(grpc.aio.ServerInterceptor):
    def __init__(self, auth: Authenticator) -> None:
        self._auth = auth

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        handler = await continuation(handler_call_details)
        method: str = handler_call_details.method
        if handler is None or not method.startswith(CONTROL_PREFIX):
            return handler
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self._unary(handler.unary_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                self._stream(handler.unary_stream),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        # A kind of call the Control API does not have: refused rather than let through.
        return None

    async def _admitted(self, context: Context) -> bool:
        try:
            self._auth.admin(context)
        except ShoalError as exc:
            await context.abort(code_for(exc), str(exc))
            return False
        return True

    def _unary(self, behavior: Any) -> Any:
        async def call(request: Any, context: Context) -> Any:
            if await self._admitted(context):
                return await behavior(request, context)
            return None

        return call

    def _stream(self, behavior: Any) -> Any:
        async def call(request: Any, context: Context) -> AsyncIterator[Any]:
            if await self._admitted(context):
                async for item in behavior(request, context):
                    yield item

        return call
