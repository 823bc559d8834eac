"""The streaming endpoints: /services/{id}/logs and /tasks/{id}/logs in docker's multiplexed
framing, and /events as docker's stream of JSON messages."""

from __future__ import annotations

import asyncio
import contextlib
import json
import struct
import time
from collections.abc import AsyncIterator
from urllib.parse import quote_plus

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from common import convert, event_filters
from common.api import control_pb2 as pb
from common.api import logs_pb2 as lpb
from common.errors import InvalidArgument
from common.logs import LogLine, LogOptions
from manager.control import Control
from manager.control.resolve import resolve_service, resolve_task
from manager.docker_api import filters as docker_filters
from manager.docker_api.backend import Backend
from manager.docker_api.requests import flag
from manager.docker_api.shapes.events import event_to_json
from manager.docker_api.shapes.times import log_timestamp

# docker's stream framing: one byte naming the stream, three zero bytes, the length (big endian).
_STDOUT, _STDERR = 1, 2
_RAW_STREAM = "application/vnd.docker.raw-stream"


# The largest tail the logs API carries (a uint64), and the latest since a protobuf Timestamp
# holds (9999-12-31T23:59:59Z).
_MAX_TAIL = 2**64 - 1
_MAX_SECONDS = 253_402_300_799


def _is_number(text: str) -> bool:
    """Decimal ASCII digits only: str.isdigit alone accepts "²", which int() refuses."""
    return text.isascii() and text.isdigit()


def _at_most(text: str, maximum: int) -> bool:
    """A number no greater than maximum (its length checked first: int() refuses a huge text)."""
    return _is_number(text) and len(text) <= len(str(maximum)) and int(text) <= maximum


def _since_ns(text: str) -> int:
    """docker's since/until: Unix seconds with an optional fraction ("1700000000.5")."""
    if not text:
        return 0
    seconds, _, fraction = text.partition(".")
    if not _at_most(seconds, _MAX_SECONDS) or (fraction and not _is_number(fraction)):
        raise InvalidArgument(f"invalid time {text!r}: expected Unix seconds")
    return int(seconds) * 1_000_000_000 + int((fraction + "000000000")[:9])


def _log_options(request: Request) -> LogOptions:
    tail_text = request.query_params.get("tail", "all")
    if tail_text != "all" and not _at_most(tail_text, _MAX_TAIL):
        raise InvalidArgument(f"invalid tail {tail_text!r}: expected a number or all")
    return LogOptions(
        follow=flag(request, "follow"),
        tail=None if tail_text == "all" else int(tail_text),
        since_ns=_since_ns(request.query_params.get("since", "")),
    )


def routes(backend: Backend) -> list[Route]:
    async def logs(request: Request, service_id: str) -> Response:
        stdout, stderr = flag(request, "stdout"), flag(request, "stderr")
        if not (stdout or stderr):
            raise InvalidArgument("Bad parameters: you must choose at least one stream")
        timestamps, details = flag(request, "timestamps"), flag(request, "details")
        options = _log_options(request)
        messages = backend.stream(
            Control.ServiceLogs,
            lpb.ServiceLogsRequest(
                ref=request.path_params["id"], options=convert.log_options_to_pb(options)
            ),
        )

        def frame(line: LogLine, node_id: str) -> bytes:
            prefix = b""
            if timestamps:
                prefix += log_timestamp(line.timestamp_ns).encode() + b" "
            if details:
                attrs = (
                    ("com.docker.swarm.node.id", node_id),
                    ("com.docker.swarm.service.id", service_id),
                    ("com.docker.swarm.task.id", line.task_id),
                )
                prefix += ",".join(f"{k}={quote_plus(v)}" for k, v in attrs).encode() + b" "
            payload = prefix + line.data + b"\n"
            stream = _STDERR if line.stderr else _STDOUT
            return struct.pack(">BxxxI", stream, len(payload)) + payload

        async def body() -> AsyncIterator[bytes]:
            nodes: dict[str, str] = {}
            async with contextlib.aclosing(messages):
                async for message in messages:
                    batch = convert.service_logs_from_pb(message)
                    nodes.update((s.task_id, s.node_id) for s in batch.sources)
                    chunk = b"".join(
                        frame(line, nodes.get(line.task_id, ""))
                        for line in batch.lines
                        if (stderr if line.stderr else stdout)
                    )
                    if chunk:
                        yield chunk

        return StreamingResponse(body(), media_type=_RAW_STREAM)

    async def service_logs(request: Request) -> Response:
        # Refused before the stream starts, so a wrong name is a 404 and not a cut stream.
        service = resolve_service(backend.view, request.path_params["id"])
        return await logs(request, service.id)

    async def task_logs(request: Request) -> Response:
        task = resolve_task(backend.view, request.path_params["id"])
        return await logs(request, task.service_id)

    async def events(request: Request) -> Response:
        wanted = docker_filters.parse(request.query_params.get("filters"), event_filters.KEYS)
        pairs = [event_filters.check(k, v) for k, values in wanted.items() for v in values]
        since = _since_ns(request.query_params.get("since", ""))
        until = _since_ns(request.query_params.get("until", ""))
        stream = await backend.open_stream(
            Control.Events,
            pb.EventsRequest(
                filters=[pb.EventFilter(key=k, value=v) for k, v in pairs], since_unix_nano=since
            ),
        )

        def left() -> float | None:
            """How long until `until`, when the client gave one: the stream ends then."""
            return max(0.0, until / 1e9 - time.time()) if until else None

        async def body() -> AsyncIterator[bytes]:
            async with contextlib.aclosing(stream):
                while True:
                    try:
                        event = await asyncio.wait_for(anext(stream), left())
                    except (StopAsyncIteration, TimeoutError):
                        return
                    if until and event.time_unix_nano > until:
                        return
                    message = event_to_json(
                        event.type,
                        event.action,
                        event.id,
                        {a.key: a.value for a in event.attributes},
                        event.time_unix_nano,
                    )
                    yield json.dumps(message).encode() + b"\n"

        return StreamingResponse(body(), media_type="application/json")

    return [
        Route("/services/{id}/logs", service_logs, methods=["GET"]),
        Route("/tasks/{id}/logs", task_logs, methods=["GET"]),
        Route("/events", events, methods=["GET"]),
    ]
