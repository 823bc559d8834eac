"""Queries passed on to the host's name servers through one socket per address family, however
many are in flight: each query goes out under an ID of its own, picked at random among those not
in flight (so queries of different containers that carry the same ID cannot collide, and an
off-path sender has to guess it), and an answer counts only when it comes from the server asked,
under that ID, for the same question. Queries in flight are bounded, in all and per source, so a
container asking faster than the servers answer is told SERVFAIL rather than growing the agent."""

from __future__ import annotations

import asyncio
import ipaddress
import secrets
import socket
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

# A lookup the container makes gives up after about 5 s anyway.
TIMEOUT = 1.0
MAX_IN_FLIGHT = 1024
MAX_IN_FLIGHT_PER_SOURCE = 128
_HEADER = 12
# Answers are read in batches: a burst of them does not take one loop turn each.
_READ_BATCH = 64

Server = tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, int]
Done = Callable[[bytes | None], None]


@dataclass
class _Query:
    source: str
    data: bytes
    question: bytes
    done: Done
    server: int = -1
    timer: asyncio.TimerHandle | None = None


class Forwarder:
    def __init__(
        self,
        servers: list[tuple[str, int]],
        timeout: float = TIMEOUT,
        limit: int = MAX_IN_FLIGHT,
        per_source: int = MAX_IN_FLIGHT_PER_SOURCE,
    ) -> None:
        self._servers = _parse(servers)
        self._timeout = timeout
        self._limit = limit
        self._per_source = per_source
        self._pending: dict[int, _Query] = {}
        self._by_source: Counter[str] = Counter()
        self._sockets: dict[int, socket.socket] = {}

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    def forward(self, source: str, data: bytes, question: bytes, done: Done) -> bool:
        """Ask the servers in turn; done gets the first answer (with the query's own ID), or
        None when none answers in time. False, and done never called, when source already has
        as many queries in flight as it may, or all sources together have."""
        if len(self._pending) >= self._limit or self._by_source[source] >= self._per_source:
            return False
        self._by_source[source] += 1
        self._ask_next(_Query(source, data, question, done))
        return True

    def close(self) -> None:
        for query in self._pending.values():
            if query.timer is not None:
                query.timer.cancel()
        self._pending.clear()
        self._by_source.clear()
        loop = asyncio.get_running_loop()
        for sock in self._sockets.values():
            loop.remove_reader(sock.fileno())
            sock.close()
        self._sockets.clear()

    def _ask_next(self, query: _Query) -> None:
        while query.server + 1 < len(self._servers):
            query.server += 1
            address, port = self._servers[query.server]
            qid = self._free_id()
            try:
                sock = self._socket(address.version)
                sock.sendto(qid.to_bytes(2, "big") + query.data[2:], (str(address), port))
            except OSError:
                # Unreachable, or no room in the socket's buffer: the next server, at once.
                continue
            query.timer = asyncio.get_running_loop().call_later(self._timeout, self._expired, qid)
            self._pending[qid] = query
            return
        self._finish(query, None)

    def _expired(self, qid: int) -> None:
        query = self._pending.pop(qid, None)
        if query is not None:
            self._ask_next(query)

    def _finish(self, query: _Query, reply: bytes | None) -> None:
        self._by_source[query.source] -= 1
        if self._by_source[query.source] <= 0:
            del self._by_source[query.source]
        query.done(reply)

    def _free_id(self) -> int:
        # At most MAX_IN_FLIGHT of 65,536 are taken: a free one comes within a few draws.
        while (qid := secrets.randbelow(1 << 16)) in self._pending:
            pass
        return qid

    def _socket(self, version: int) -> socket.socket:
        sock = self._sockets.get(version)
        if sock is None:
            sock = socket.socket(
                socket.AF_INET if version == 4 else socket.AF_INET6, socket.SOCK_DGRAM
            )
            sock.setblocking(False)
            asyncio.get_running_loop().add_reader(sock.fileno(), self._readable, sock)
            self._sockets[version] = sock
        return sock

    def _readable(self, sock: socket.socket) -> None:
        for _ in range(_READ_BATCH):
            try:
                data, addr = sock.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                # An error queued on the socket (an ICMP report): the timeout handles its query.
                continue
            self._answer(data, addr)

    def _answer(self, data: bytes, addr: tuple[str, int] | tuple[str, int, int, int]) -> None:
        if len(data) < _HEADER:
            return
        qid = int.from_bytes(data[:2], "big")
        query = self._pending.get(qid)
        if query is None or self._servers[query.server] != _server(addr):
            return
        if data[_HEADER : _HEADER + len(query.question)] != query.question:
            return
        del self._pending[qid]
        if query.timer is not None:
            query.timer.cancel()
        self._finish(query, query.data[:2] + data[2:])


def _server(addr: tuple[str, int] | tuple[str, int, int, int]) -> Server | None:
    try:
        return ipaddress.ip_address(addr[0]), addr[1]
    except ValueError:
        return None


def _parse(servers: list[tuple[str, int]]) -> list[Server]:
    """The servers given as IP addresses; a name or a scoped address in resolv.conf is skipped."""
    parsed = []
    for host, port in servers:
        try:
            parsed.append((ipaddress.ip_address(host), port))
        except ValueError:
            continue
    return parsed
