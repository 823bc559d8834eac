"""A TCP relay on loopback that a test can cut, as a network partition does (while cut it
passes no byte either way and leaves every connection hanging, new ones too), or point at
another target, as an address that moves does."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class Relay:
    def __init__(self, target: str, port: int = 0) -> None:
        """port: where to listen (0: any free port)."""
        self.retarget(target)
        self._port = port
        self._open = asyncio.Event()
        self._open.set()
        self._server: asyncio.Server | None = None
        self._pumps: set[asyncio.Task[None]] = set()

    async def start(self) -> str:
        """Listen; the HOST:PORT to dial instead of the target."""
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self._port)
        port = self._server.sockets[0].getsockname()[1]
        return f"127.0.0.1:{port}"

    def retarget(self, target: str) -> None:
        """Send new connections to target; those open stay where they are."""
        host, _, port = target.rpartition(":")
        self._target = (host, int(port))

    def cut(self) -> None:
        self._open.clear()

    def mend(self) -> None:
        self._open.set()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for pump in self._pumps:
            pump.cancel()
        await asyncio.gather(*self._pumps, return_exceptions=True)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.close()
            return
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            pump = asyncio.create_task(self._pump(source, sink))
            self._pumps.add(pump)
            pump.add_done_callback(self._pumps.discard)

    async def _pump(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(65536):
                # Held while cut: what was sent then arrives, if ever, only once mended.
                await self._open.wait()
                sink.write(data)
                await sink.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            with contextlib.suppress(OSError):
                sink.close()


class ThreadedRelay:
    """A Relay on an event loop of its own, for tests that are not async themselves."""

    def __init__(self, target: str, port: int = 0) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._relay = self._run(self._made(target, port))
        self.addr = self._run(self._relay.start())

    async def _made(self, target: str, port: int) -> Relay:
        return Relay(target, port)

    def _run(self, step: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(step, self._loop).result(timeout=10)

    def retarget(self, target: str) -> None:
        self._loop.call_soon_threadsafe(self._relay.retarget, target)

    def close(self) -> None:
        self._run(self._relay.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()
