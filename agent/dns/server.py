"""The name server: UDP on each local network's gateway address, port 53. Names of the asking
container's networks are answered here; any other query goes on to the host's own name servers
(what the engine would have asked), and fails with SERVFAIL when none answers in time."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import cast

import structlog

from agent.dns import message
from agent.dns.records import Records
from common.errors import Unavailable
from common.netview import NetworkView

log = structlog.get_logger("dns")

PORT = 53
# Per upstream server; a lookup the container makes gives up after about 5 s anyway.
UPSTREAM_TIMEOUT = 1.0


def host_resolvers(path: Path = Path("/etc/resolv.conf")) -> list[tuple[str, int]]:
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return []
    return [
        (ln.split()[1], PORT) for ln in lines if ln.startswith("nameserver") and len(ln.split()) > 1
    ]


class _Reply(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.received: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        if not self.received.done():
            self.received.set_result(data)

    def error_received(self, exc: Exception) -> None:
        if not self.received.done():
            self.received.set_exception(exc)


class _Listener(asyncio.DatagramProtocol):
    def __init__(self, service: NameService) -> None:
        self._service = service
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # The selector loop's datagram transport does not subclass DatagramTransport.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        assert self.transport is not None
        self._service.handle(self.transport, data, addr)


class NameService:
    def __init__(self, upstreams: list[tuple[str, int]] | None = None) -> None:
        self._records = Records()
        self._upstreams = host_resolvers() if upstreams is None else upstreams
        self._listeners: dict[str, asyncio.DatagramTransport] = {}
        self._forwards: set[asyncio.Task[None]] = set()

    def update(self, view: NetworkView) -> None:
        self._records = Records.of(view)

    async def listen(self, address: str, port: int = PORT) -> None:
        if address in self._listeners:
            return
        try:
            transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
                lambda: _Listener(self), local_addr=(address, port)
            )
        except OSError as exc:
            raise Unavailable(f"name server cannot listen on {address}: {exc.strerror}") from None
        self._listeners[address] = transport
        log.info("name server listening", address=address)

    def stop(self, address: str) -> None:
        transport = self._listeners.pop(address, None)
        if transport is not None:
            transport.close()

    def addresses(self) -> set[str]:
        return set(self._listeners)

    async def close(self) -> None:
        for address in list(self._listeners):
            self.stop(address)
        for task in list(self._forwards):
            task.cancel()

    def handle(
        self, transport: asyncio.DatagramTransport, data: bytes, addr: tuple[str | object, int]
    ) -> None:
        try:
            query = message.parse(data)
        except message.Malformed:
            reply = message.error(data, message.FORMERR)
            if reply is not None:
                transport.sendto(reply, addr)
            return
        found = (
            self._records.lookup(query.name, str(addr[0]))
            if query.qclass == message.CLASS_IN
            else None
        )
        if found is None:
            task = asyncio.get_running_loop().create_task(self._forward(transport, data, addr))
            self._forwards.add(task)
            task.add_done_callback(self._forwards.discard)
            return
        # A name of ours has A records only; other types get an empty answer, not a referral.
        transport.sendto(
            message.answer(query, found if query.qtype == message.TYPE_A else []), addr
        )

    async def _forward(
        self, transport: asyncio.DatagramTransport, data: bytes, addr: tuple[str | object, int]
    ) -> None:
        for server in self._upstreams:
            with contextlib.suppress(OSError, TimeoutError):
                reply = await self._ask(server, data)
                if not transport.is_closing():
                    transport.sendto(reply, addr)
                return
        reply_error = message.error(data, message.SERVFAIL)
        if reply_error is not None and not transport.is_closing():
            transport.sendto(reply_error, addr)

    async def _ask(self, server: tuple[str, int], data: bytes) -> bytes:
        loop = asyncio.get_running_loop()
        upstream, protocol = await loop.create_datagram_endpoint(_Reply, remote_addr=server)
        try:
            upstream.sendto(data)
            return await asyncio.wait_for(protocol.received, UPSTREAM_TIMEOUT)
        finally:
            upstream.close()
