"""Reading container logs through docker-py: frames become lines, and a reader the agent stops
lets go of its engine connection. The engine is a small HTTP server on a unix socket that
answers as dockerd does."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socketserver
import struct
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import ClassVar

import pytest

from agent.engine_client import EngineClient
from agent.runtime.base import LogEntry
from agent.runtime.docker_logs import MAX_LINE, LineSplitter, parse_timestamp, read_logs
from common.errors import NotFound
from tests.waiting import eventually

T0 = "2024-05-16T22:52:44.991066123Z"
T0_NS = 1715899964_991066123


def frame(stderr: bool, payload: bytes) -> bytes:
    return struct.pack(">BxxxL", 2 if stderr else 1, len(payload)) + payload


class TestTimestamps:
    def test_nanoseconds_in_utc(self) -> None:
        assert parse_timestamp(T0.encode()) == T0_NS

    def test_zone_offsets_and_short_fractions(self) -> None:
        assert parse_timestamp(b"2024-05-17T00:52:44.5+02:00") == 1715899964_500000000
        assert parse_timestamp(b"2024-05-16T22:52:44Z") == 1715899964_000000000

    def test_not_a_time(self) -> None:
        assert parse_timestamp(b"hello") is None


class TestLineSplitter:
    def test_one_frame_per_line(self) -> None:
        """Each stamped frame is a line, without its end, on its own stream."""
        splitter = LineSplitter()
        assert splitter.feed(False, f"{T0} hello\n".encode()) == [LogEntry(T0_NS, False, b"hello")]
        assert splitter.feed(True, f"{T0} oops\n".encode()) == [LogEntry(T0_NS, True, b"oops")]

    def test_a_partial_line_is_joined_with_its_first_time(self) -> None:
        """A line sent as pieces is one line, stamped when it began; stdout and stderr pieces
        do not mix."""
        splitter = LineSplitter()
        later = "2024-05-16T22:52:45.000000000Z"
        assert splitter.feed(False, f"{T0} par".encode()) == []
        assert splitter.feed(True, f"{T0} err\n".encode()) == [LogEntry(T0_NS, True, b"err")]
        assert splitter.feed(False, f"{later} tial\n".encode()) == [
            LogEntry(T0_NS, False, b"partial")
        ]

    def test_long_lines_are_cut_and_bytes_kept(self) -> None:
        """A line longer than MAX_LINE comes in pieces; bytes that are not UTF-8 stay as they
        are; what is open at the end comes out on flush."""
        splitter = LineSplitter()
        long = b"\xff" * (MAX_LINE * 2 + 10)
        lines = splitter.feed(False, T0.encode() + b" " + long + b"\n")
        assert [len(line.data) for line in lines] == [MAX_LINE, MAX_LINE, 10]
        assert b"".join(line.data for line in lines) == long
        assert splitter.feed(False, f"{T0} no end".encode()) == []
        assert splitter.flush() == [LogEntry(T0_NS, False, b"no end")]


class _Engine(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    frames: ClassVar[list[bytes]] = []
    follow_gone: ClassVar[threading.Event] = threading.Event()

    def log_message(self, format: str, *args: object) -> None:
        return None

    def do_GET(self) -> None:
        if self.path.endswith("/version"):
            self._json(200, {"ApiVersion": "1.43", "Version": "fake"})
        elif "/containers/gone/" in self.path:
            self._json(404, {"message": "No such container: gone"})
        else:
            self._logs("follow=1" in self.path)

    def _json(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _logs(self, follow: bool) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.docker.multiplexed-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for data in self.frames:
            self._chunk(data)
        if not follow:
            self._chunk(b"")
            return
        # Quiet, as a followed container often is, until the reader hangs up.
        try:
            while self.rfile.read(1) != b"":
                pass
        except OSError:
            pass
        self.follow_gone.set()

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[str]:
    path = tmp_path / "docker.sock"
    _Engine.frames = [
        frame(False, f"{T0} one\n".encode()),
        frame(True, f"{T0} two\n".encode()),
    ]
    _Engine.follow_gone = threading.Event()
    server = socketserver.ThreadingUnixStreamServer(str(path), _Engine)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"unix://{path}"
    finally:
        server.shutdown()
        server.server_close()


def readers_alive() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("docker-logs-")]


class TestReadLogs:
    async def test_lines_of_both_streams_then_the_end(self, engine: str) -> None:
        entries = [
            e
            async for e in read_logs(
                EngineClient(engine), "abc", follow=False, tail=None, since_ns=0
            )
        ]
        assert entries == [LogEntry(T0_NS, False, b"one"), LogEntry(T0_NS, True, b"two")]

    async def test_a_gone_container_is_not_found(self, engine: str) -> None:
        with pytest.raises(NotFound, match="No such container"):
            async for _ in read_logs(
                EngineClient(engine), "gone", follow=False, tail=2, since_ns=T0_NS
            ):
                pass

    async def test_a_stopped_follower_lets_go_of_the_engine(self, engine: str) -> None:
        """Stopping a reader blocked on a quiet container closes its connection and ends its
        thread."""
        got: list[bytes] = []

        async def consume() -> None:
            stream = read_logs(EngineClient(engine), "abc", follow=True, tail=None, since_ns=0)
            async for entry in stream:
                got.append(entry.data)

        consumer = asyncio.create_task(consume())
        await eventually(lambda: got == [b"one", b"two"], "the lines written so far")
        assert readers_alive()
        consumer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await consumer
        await eventually(_Engine.follow_gone.is_set, "the engine to see the reader hang up")
        await eventually(lambda: not readers_alive(), "the reading thread to end")
