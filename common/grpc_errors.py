"""The single mapping between ShoalError subclasses and gRPC status codes, used at both edges."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar, cast

import grpc

from common.errors import (
    Conflict,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    ShoalError,
    StaleVersion,
    Unauthenticated,
    Unavailable,
)

_TO_CODE: dict[type[ShoalError], grpc.StatusCode] = {
    NotFound: grpc.StatusCode.NOT_FOUND,
    InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    Conflict: grpc.StatusCode.ABORTED,
    Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
    Unavailable: grpc.StatusCode.UNAVAILABLE,
    FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION,
    ResourceExhausted: grpc.StatusCode.RESOURCE_EXHAUSTED,
}
_FROM_CODE: dict[grpc.StatusCode, type[ShoalError]] = {v: k for k, v in _TO_CODE.items()}
_FROM_CODE[grpc.StatusCode.ALREADY_EXISTS] = Conflict
_FROM_CODE[grpc.StatusCode.DEADLINE_EXCEEDED] = Unavailable
# Trailing metadata naming an error that shares its status code with others, so that a client
# (or a follower relaying the leader's answer) raises the same class: docker's clients are told
# "update out of sequence" for a StaleVersion, not for any conflict.
KIND_METADATA = "shoal-error-kind"
_KINDS: dict[str, type[ShoalError]] = {"stale-version": StaleVersion}


def code_for(error: ShoalError) -> grpc.StatusCode:
    for cls in type(error).__mro__:
        if cls in _TO_CODE:
            return _TO_CODE[cls]
    return grpc.StatusCode.UNKNOWN


def trailing_kind(error: ShoalError) -> tuple[tuple[str, str], ...]:
    """The trailing metadata to abort a call for error with (see KIND_METADATA)."""
    for name, cls in _KINDS.items():
        if isinstance(error, cls):
            return ((KIND_METADATA, name),)
    return ()


def from_rpc_error(error: grpc.RpcError) -> ShoalError:
    """Turn a failed call into the ShoalError the server raised (or the transport's failure)."""
    code: grpc.StatusCode = error.code()
    details: str | None = error.details()
    # A call's error has trailing metadata; a bare RpcError (a test's, say) has none.
    trailing = getattr(error, "trailing_metadata", lambda: ())() or ()
    kinds = [_KINDS[v] for k, v in trailing if k == KIND_METADATA and v in _KINDS]
    return (kinds[0] if kinds else _FROM_CODE.get(code, ShoalError))(details or code.name.lower())


H = TypeVar("H", bound=Callable[..., Awaitable[Any]])


def unary_errors(handler: H) -> H:
    """Decorate a unary grpc.aio servicer method: a ShoalError aborts the call with its status."""

    @functools.wraps(handler)
    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        try:
            return await handler(self, request, context)
        except ShoalError as exc:
            await context.abort(code_for(exc), str(exc), trailing_kind(exc))

    return cast(H, wrapper)


S = TypeVar("S", bound=Callable[..., AsyncIterator[Any]])


def stream_errors(handler: S) -> S:
    """Decorate a server-streaming grpc.aio servicer method: a ShoalError, raised before the first
    message or between two, aborts the call with its status."""

    @functools.wraps(handler)
    async def wrapper(
        self: Any, request: Any, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[Any]:
        try:
            async for item in handler(self, request, context):
                yield item
        except ShoalError as exc:
            await context.abort(code_for(exc), str(exc), trailing_kind(exc))

    return cast(S, wrapper)
