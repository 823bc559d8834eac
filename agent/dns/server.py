"""The name server: UDP on each local network's gateway address, port 53. Names of the asking
container's networks are answered here; any other query goes on to the host's own name servers
(what the engine would have asked), and fails with SERVFAIL when none answers in time.

A container is known by its address: each may ask RATE queries a second (BURST at once), and
what it asks beyond that is dropped unanswered, as a loaded server would; a flood costs the agent
a little time per datagram and nothing else (no socket, task or memory per query)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import cast

import structlog

from agent.dns import message
from agent.dns.ratelimit import PerSource
from agent.dns.records import Records
from agent.dns.upstream import Forwarder
from agent.metrics import AgentMetrics
from common.errors import Unavailable
from common.netview import NetworkView

log = structlog.get_logger("dns")

PORT = 53
# Per container. A lookup is an A and an AAAA query per search domain, and the engine's resolver
# caches nothing: a busy client stays well below; a flood is cut to this.
RATE = 500.0
BURST = 1000.0


def host_resolvers(path: Path = Path("/etc/resolv.conf")) -> list[tuple[str, int]]:
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return []
    return [
        (ln.split()[1], PORT) for ln in lines if ln.startswith("nameserver") and len(ln.split()) > 1
    ]


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
    def __init__(
        self,
        upstreams: list[tuple[str, int]] | None = None,
        forwarder: Forwarder | None = None,
        limit: PerSource | None = None,
    ) -> None:
        """upstreams: the servers to forward to (the host's resolvers by default), unless
        forwarder is given."""
        self._records = Records()
        self._forwarder = forwarder or Forwarder(
            host_resolvers() if upstreams is None else upstreams
        )
        self._limit = limit or PerSource(RATE, BURST)
        self._listeners: dict[str, asyncio.DatagramTransport] = {}
        self.metrics = AgentMetrics()

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
        self._forwarder.close()

    def handle(
        self, transport: asyncio.DatagramTransport, data: bytes, addr: tuple[str | object, int]
    ) -> None:
        source = str(addr[0])
        if not self._limit.allow(source):
            return
        try:
            query = message.parse(data)
        except message.Malformed:
            reply = message.error(data, message.FORMERR)
            if reply is not None:
                transport.sendto(reply, addr)
            return
        found = (
            self._records.lookup(query.name, source) if query.qclass == message.CLASS_IN else None
        )
        if found is None:
            self.metrics.dns_queries.labels("forwarded").inc()

            def done(answer: bytes | None) -> None:
                reply = answer if answer is not None else message.error(data, message.SERVFAIL)
                if reply is not None and not transport.is_closing():
                    transport.sendto(reply, addr)

            if not self._forwarder.forward(source, data, query.question, done):
                done(None)
            return
        self.metrics.dns_queries.labels("answered").inc()
        # A name of ours has A records only; other types get an empty answer, not a referral.
        transport.sendto(
            message.answer(query, found if query.qtype == message.TYPE_A else []), addr
        )
