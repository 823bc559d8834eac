"""Container logs from a docker engine: the engine's multiplexed log stream read on a thread of
its own, cut into lines, and handed to the event loop with backpressure.

docker-py's `logs()` drops which stream a frame came from, so the request is made here and the
frames are read as its own multiplexed-stream helper reads them, keeping stdout and stderr apart.
"""

from __future__ import annotations

import asyncio
import calendar
import contextlib
import re
import struct
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import quote

import docker
import docker.errors
import requests
from docker.types.daemon import CancellableStream

from agent.engine_client import EngineClient, translate
from agent.runtime.base import LogEntry

# Longer lines are cut into pieces of this size: a line must fit a message with room to spare.
MAX_LINE = 64 * 1024
# Lines read ahead of the consumer; past that the reading thread waits, and so does the engine.
READ_AHEAD = 512
_HEADER = struct.Struct(">BxxxL")
_STDERR = 2
_STAMP = re.compile(rb"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$")
# How often a reader blocked on a full queue checks whether it was stopped.
_POLL = 0.2


def parse_timestamp(stamp: bytes) -> int | None:
    """docker's RFC 3339 time with nanoseconds (`2024-05-16T22:52:44.991066123Z`) -> ns since
    the epoch; None when it is not one."""
    match = _STAMP.match(stamp)
    if match is None:
        return None
    whole, fraction, zone = match.groups()
    seconds = calendar.timegm(time.strptime(whole.decode(), "%Y-%m-%dT%H:%M:%S"))
    if zone != b"Z":
        offset = int(zone[1:3]) * 3600 + int(zone[4:6]) * 60
        seconds -= offset if zone[:1] == b"+" else -offset
    nanos = int((fraction or b"0").ljust(9, b"0"))
    return seconds * 1_000_000_000 + nanos


class LineSplitter:
    """Frames -> lines. The engine sends each line as one frame, `TIMESTAMP data\\n`, and a long
    line as several frames, the last one alone ending the line; a line keeps its first frame's
    time. What is still open when the stream ends is a line too."""

    def __init__(self) -> None:
        self._open: dict[bool, tuple[int, bytearray]] = {}
        self._last_ns = 0

    def feed(self, stderr: bool, frame: bytes) -> list[LogEntry]:
        stamp, _, data = frame.partition(b" ")
        parsed = parse_timestamp(stamp)
        if parsed is None:
            # Not stamped after all: the whole frame is text, at the time last seen.
            data = frame
        else:
            self._last_ns = parsed
        start, buffer = self._open.pop(stderr, (self._last_ns, bytearray()))
        lines = []
        while data:
            piece, end, data = data.partition(b"\n")
            buffer += piece
            while len(buffer) > MAX_LINE:
                lines.append(LogEntry(start, stderr, bytes(buffer[:MAX_LINE])))
                del buffer[:MAX_LINE]
            if end:
                lines.append(LogEntry(start, stderr, bytes(buffer)))
                start, buffer = self._last_ns, bytearray()
        if buffer:
            self._open[stderr] = (start, buffer)
        return lines

    def flush(self) -> list[LogEntry]:
        lines = [LogEntry(start, stderr, bytes(buf)) for stderr, (start, buf) in self._open.items()]
        self._open.clear()
        return sorted(lines, key=lambda line: line.timestamp_ns)


def _frames(response: requests.Response) -> Iterator[tuple[bool, bytes]]:
    """(stderr?, payload) for each frame of a multiplexed (non-TTY) stream."""
    raw: Any = response.raw
    while True:
        header = raw.read(_HEADER.size)
        if len(header) < _HEADER.size:
            return
        kind, length = _HEADER.unpack(header)
        payload = raw.read(length) if length else b""
        if payload:
            yield kind == _STDERR, payload
        if len(payload) < length:
            return


def _open(
    api: docker.APIClient, container_id: str, follow: bool, tail: int | None, since_ns: int
) -> CancellableStream[tuple[bool, bytes]]:
    params: dict[str, str | int] = {
        "stdout": 1,
        "stderr": 1,
        "timestamps": 1,
        "follow": int(follow),
        "tail": "all" if tail is None else tail,
    }
    if since_ns:
        # Exact to the nanosecond, which docker-py's float would not be.
        params["since"] = f"{since_ns // 1_000_000_000}.{since_ns % 1_000_000_000:09d}"
    url = f"{api.base_url}/v{api.api_version}/containers/{quote(container_id)}/logs"
    # No read timeout: a followed container may stay quiet for hours.
    response = api.get(url, params=params, stream=True, timeout=None)
    try:
        response.raise_for_status()
    except requests.exceptions.HTTPError as exc:
        # Raises the APIError for the engine's message, which it reads from the body.
        with contextlib.closing(response):
            docker.errors.create_api_error_from_http_exception(exc)
    return CancellableStream(_frames(response), response)


async def read_logs(
    engine: EngineClient,
    container_id: str,
    *,
    follow: bool,
    tail: int | None,
    since_ns: int,
) -> AsyncIterator[LogEntry]:
    api, stream = await engine.stream(lambda api: _open(api, container_id, follow, tail, since_ns))
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[LogEntry | Exception | None] = asyncio.Queue()
    room = threading.Semaphore(READ_AHEAD)
    stopped = threading.Event()

    def hand_over(entry: LogEntry) -> None:
        while not room.acquire(timeout=_POLL):
            if stopped.is_set():
                raise _Stopped
        loop.call_soon_threadsafe(queue.put_nowait, entry)

    def pump() -> None:
        end: Exception | None = None
        try:
            splitter = LineSplitter()
            for stderr, frame in stream:
                for entry in splitter.feed(stderr, frame):
                    hand_over(entry)
            for entry in splitter.flush():
                hand_over(entry)
        except _Stopped:
            return
        except Exception as exc:
            end = exc
        # The loop may be gone already (the agent stopping): nobody is left to tell.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(queue.put_nowait, end)

    thread = threading.Thread(target=pump, name=f"docker-logs-{container_id[:12]}", daemon=True)
    thread.start()
    try:
        while True:
            item = await queue.get()
            if item is None:
                return
            if isinstance(item, Exception):
                raise translate(item) from item
            room.release()
            yield item
    finally:
        stopped.set()
        # Shutting the socket down is what wakes the thread from a blocked read.
        with contextlib.suppress(Exception):
            stream.close()
        api.close()


class _Stopped(Exception):
    """The consumer went away while the reading thread waited for room."""
