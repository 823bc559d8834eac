"""What a handler reads from a request: the JSON body and query values, as docker's clients
send them; anything malformed is an InvalidArgument (400)."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from common.errors import InvalidArgument
from common.limits import MAX_SPEC_BYTES

_TRUE = ("1", "true", "True")
_FALSE = ("", "0", "false", "False")


async def json_body(request: Request) -> Any:
    body = await request.body()
    if len(body) > MAX_SPEC_BYTES:
        raise InvalidArgument(
            f"the request body is {len(body)} bytes: the limit is {MAX_SPEC_BYTES}"
        )
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
