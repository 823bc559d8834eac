"""What a handler reads from a request: the JSON body and query values, as docker's clients
send them; anything malformed is an InvalidArgument (400)."""

from __future__ import annotations

import json
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request

from common.errors import InvalidArgument
from common.limits import MAX_SPEC_BYTES

_TRUE = ("1", "true", "True")
_FALSE = ("", "0", "false", "False")


async def body_bytes(request: Request, limit: int) -> bytes:
    """The body, read no further than one byte past limit: a larger one is refused (413) before
    it is held whole, whatever its Content-Length claims."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"the request body is {declared} bytes: the limit is {limit}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, f"the request body is over the limit of {limit} bytes")
    return b"".join(chunks)


async def json_body(request: Request, limit: int = MAX_SPEC_BYTES) -> Any:
    body = await body_bytes(request, limit)
    if not body.strip():
        raise InvalidArgument("the request has no JSON body")
    try:
        return json.loads(body)
    except ValueError as exc:
        raise InvalidArgument(f"invalid JSON body: {exc}") from None


def flag(request: Request, key: str) -> bool:
    value = request.query_params.get(key, "")
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise InvalidArgument(
        f"invalid value {value!r} of query parameter {key}: expected true or false"
    )


def version(request: Request, what: str) -> int:
    """The version= of an update (docker's Version.Index of what the client read)."""
    raw = request.query_params.get("version", "")
    if not raw.isdigit():
        raise InvalidArgument(f"invalid {what} version {raw!r}")
    return int(raw)
