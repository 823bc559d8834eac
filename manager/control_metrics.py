"""Counts and times the client's calls (the Control and System services) at the gRPC edge, so the
servicers stay free of bookkeeping."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeAlias

import grpc

from manager.metrics import ManagerMetrics

# The services a client calls; the agents' Dispatcher has metrics of its own.
_CLIENT_SERVICES = ("/shoal.v1.Control/", "/shoal.v1.System/")


def _code(context: grpc.aio.ServicerContext[Any, Any], failed: BaseException | None) -> str:
    """The status the call ended with: what the servicer set (abort sets it too), else OK for
    a return and UNKNOWN (or CANCELLED) for an exception gRPC turns into one."""
    code = context.code()
    if isinstance(code, grpc.StatusCode):
        return code.name
    if failed is None:
        return grpc.StatusCode.OK.name
    if isinstance(failed, GeneratorExit | asyncio.CancelledError):
        return grpc.StatusCode.CANCELLED.name
    return grpc.StatusCode.UNKNOWN.name


Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"


class ControlMetrics(grpc.aio.ServerInterceptor):
    def __init__(self, metrics: ManagerMetrics) -> None:
        self._metrics = metrics

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        handler = await continuation(handler_call_details)
        full: str = handler_call_details.method
        if handler is None or not full.startswith(_CLIENT_SERVICES):
            return handler
        method = full.rsplit("/", 1)[-1]
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self._unary(method, handler.unary_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                self._stream(method, handler.unary_stream),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler

    def _done(self, method: str, started: float, code: str) -> None:
        self._metrics.requests.labels(method, code).inc()
        self._metrics.request_latency.labels(method).observe(time.monotonic() - started)

    def _unary(self, method: str, behavior: Any) -> Any:
        async def call(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            started = time.monotonic()
            failed: BaseException | None = None
            try:
                return await behavior(request, context)
            except BaseException as exc:
                failed = exc
                raise
            finally:
                self._done(method, started, _code(context, failed))

        return call

    def _stream(self, method: str, behavior: Any) -> Any:
        async def call(
            request: Any, context: grpc.aio.ServicerContext[Any, Any]
        ) -> AsyncIterator[Any]:
            started = time.monotonic()
            failed: BaseException | None = None
            try:
                async for item in behavior(request, context):
                    yield item
            except BaseException as exc:
                failed = exc
                raise
            finally:
                self._done(method, started, _code(context, failed))

        return call
