"""Shoal's errors as the Docker Engine API answers them: {"message": ...} with docker's status
codes; the one mapping for this edge."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

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

_STATUS: dict[type[ShoalError], int] = {
    InvalidArgument: 400,
    Unauthenticated: 401,
    PermissionDenied: 403,
    NotFound: 404,
    Conflict: 409,
    FailedPrecondition: 412,
    ResourceExhausted: 429,
    Unavailable: 503,
}

# Docker's own words, which scripts and tools look for.
OUT_OF_SEQUENCE = "update out of sequence"


def status_for(error: ShoalError) -> int:
    for cls in type(error).__mro__:
        if cls in _STATUS:
            return _STATUS[cls]
    return 500


def message_for(error: ShoalError) -> str:
    if isinstance(error, StaleVersion):
        return f"{OUT_OF_SEQUENCE}: {error}"
    return str(error)


def docker_error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"message": message}, status_code=status)


async def shoal_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ShoalError)
    return docker_error(status_for(exc), message_for(exc))
