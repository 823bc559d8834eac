"""The name server's limits: a token bucket per source, queries in flight bounded in all and per
source, one upstream socket whatever the load, IDs rewritten so queries never collide, and
answers taken only from the server asked, for the question asked."""

from __future__ import annotations

import asyncio
import os
import socket
import struct
from collections.abc import AsyncIterator

import pytest

from agent.dns import message
from agent.dns.ratelimit import PerSource
from agent.dns.server import NameService
from agent.dns.upstream import Forwarder
from tests.unit.test_dns import answers, ask, free_port, query


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class TestPerSource:
    def test_a_burst_then_the_rate(self) -> None:
        clock = Clock()
        limit = PerSource(rate=10, burst=5, clock=clock)
        assert [limit.allow("10.0.0.2") for _ in range(6)] == [True] * 5 + [False]
        clock.now += 0.25
        assert [limit.allow("10.0.0.2") for _ in range(3)] == [True, True, False]

    def test_sources_have_buckets_of_their_own(self) -> None:
        limit = PerSource(rate=1, burst=2, clock=Clock())
        assert [limit.allow("10.0.0.2") for _ in range(3)] == [True, True, False]
        assert limit.allow("10.0.0.3")

    def test_a_bucket_never_holds_more_than_the_burst(self) -> None:
        clock = Clock()
        limit = PerSource(rate=10, burst=2, clock=clock)
        limit.allow("10.0.0.2")
        clock.now += 3600
        assert [limit.allow("10.0.0.2") for _ in range(3)] == [True, True, False]

    def test_the_table_of_sources_is_bounded(self) -> None:
        limit = PerSource(rate=1, burst=1, clock=Clock(), max_sources=2)
        assert limit.allow("10.0.0.2")
        assert not limit.allow("10.0.0.2")
        assert limit.allow("10.0.0.3")
        assert limit.allow("10.0.0.4")
        # The least recently seen was forgotten, and comes back with a full bucket.
        assert limit.allow("10.0.0.2")
        assert not limit.allow("10.0.0.4")


class Upstream:
    """A name server on loopback that the test drives: it answers only when told to."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.addr: tuple[str, int] = self.sock.getsockname()

    async def receive(self) -> tuple[bytes, tuple[str, int]]:
        data, addr = await asyncio.wait_for(
            asyncio.get_running_loop().sock_recvfrom(self.sock, 4096), 5
        )
        return data, addr

    def answer(self, data: bytes, addr: tuple[str, int], address: str) -> None:
        self.sock.sendto(message.answer(message.parse(data), [address]), addr)


@pytest.fixture
async def upstream() -> AsyncIterator[Upstream]:
    server = Upstream()
    yield server
    server.sock.close()


def question(data: bytes) -> bytes:
    return message.parse(data).question


class Replies(list[bytes | None]):
    """What a forwarder's done callbacks were given, in order; wait() until there are n."""

    def __init__(self) -> None:
        super().__init__()
        self._changed = asyncio.Event()

    def append(self, reply: bytes | None) -> None:
        super().append(reply)
        self._changed.set()

    async def wait(self, n: int = 1) -> None:
        async with asyncio.timeout(5):
            while len(self) < n:
                self._changed.clear()
                await self._changed.wait()


def rcode(reply: bytes) -> int:
    return int(struct.unpack_from("!H", reply, 2)[0]) & 0xF


def sockets() -> set[str]:
    """The sockets this process holds open, by inode: other tests' leftovers, closed by the
    collector at any moment, only ever leave this set, so what appears in it is new."""
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:"):
            found.add(target)
    return found


class TestForwarder:
    async def test_same_ids_from_two_sources_get_their_own_answers(
        self, upstream: Upstream
    ) -> None:
        forwarder = Forwarder([upstream.addr])
        try:
            a, b = query("a.example", qid=7), query("b.example", qid=7)
            got_a, got_b = Replies(), Replies()
            assert forwarder.forward("10.0.0.2", a, question(a), got_a.append)
            assert forwarder.forward("10.0.0.3", b, question(b), got_b.append)
            (one, addr), (two, _) = await upstream.receive(), await upstream.receive()
            assert one[:2] != two[:2]
            for data in (two, one):
                name = message.parse(data).name
                upstream.answer(data, addr, "192.0.2.1" if name == "a.example" else "192.0.2.2")
            await got_a.wait()
            await got_b.wait()
            assert [answers(r) for r in (*got_a, *got_b) if r] == [
                (7, message.NOERROR, ["192.0.2.1"]),
                (7, message.NOERROR, ["192.0.2.2"]),
            ]
            assert forwarder.in_flight == 0
        finally:
            forwarder.close()

    async def test_answers_from_elsewhere_or_for_another_question_are_ignored(
        self, upstream: Upstream
    ) -> None:
        forwarder = Forwarder([upstream.addr])
        stranger = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            data = query("a.example")
            got = Replies()
            assert forwarder.forward("10.0.0.2", data, question(data), got.append)
            sent, addr = await upstream.receive()
            stranger.sendto(message.answer(message.parse(sent), ["192.0.2.66"]), addr)
            other = query("b.example", qid=struct.unpack_from("!H", sent)[0])
            upstream.answer(other, addr, "192.0.2.67")
            upstream.answer(sent, addr, "192.0.2.1")
            await got.wait()
            assert [answers(r) for r in got if r] == [(0x1234, message.NOERROR, ["192.0.2.1"])]
        finally:
            stranger.close()
            forwarder.close()

    async def test_queries_in_flight_are_bounded_in_all_and_per_source(
        self, upstream: Upstream
    ) -> None:
        forwarder = Forwarder([upstream.addr], timeout=0.2, limit=10, per_source=4)
        got = Replies()
        try:
            data = query("a.example")
            taken = [
                forwarder.forward("10.0.0.2", data, question(data), got.append) for _ in range(5)
            ]
            assert taken == [True] * 4 + [False]
            taken = [
                forwarder.forward(f"10.0.0.{i}", data, question(data), got.append)
                for i in range(3, 10)
            ]
            assert taken == [True] * 6 + [False]
            assert forwarder.in_flight == 10
            # Nobody answers: each fails once its time is up, and the room is there again.
            await got.wait(10)
            assert got == [None] * 10
            assert forwarder.in_flight == 0
            assert forwarder.forward("10.0.0.2", data, question(data), got.append)
        finally:
            forwarder.close()

    async def test_one_socket_however_many_queries(self, upstream: Upstream) -> None:
        forwarder = Forwarder([upstream.addr])
        before = sockets()
        try:
            for i in range(500):
                data = query(f"n{i}.example")
                assert forwarder.forward(f"10.0.{i // 100}.2", data, question(data), lambda _: None)
            assert forwarder.in_flight == 500
            opened = sockets() - before
            assert len(opened) == 1
        finally:
            forwarder.close()
        assert not opened & sockets()

    async def test_an_unreachable_server_is_passed_over_at_once(self, upstream: Upstream) -> None:
        # Port 0 cannot be sent to: the error comes from sendto, not after a timeout.
        forwarder = Forwarder([("127.0.0.1", 0), ("not-an-address", 53), upstream.addr], timeout=30)
        try:
            data = query("a.example")
            got = Replies()
            assert forwarder.forward("10.0.0.2", data, question(data), got.append)
            sent, addr = await upstream.receive()
            upstream.answer(sent, addr, "192.0.2.1")
            await got.wait()
            assert [answers(r)[2] for r in got if r] == [["192.0.2.1"]]
        finally:
            forwarder.close()


class TestNameServiceLimits:
    async def test_a_source_past_its_rate_is_not_answered_and_others_still_are(self) -> None:
        service = NameService(upstreams=[], limit=PerSource(rate=0.001, burst=3))
        port = free_port()
        try:
            await service.listen("127.0.0.1", port)
            for _ in range(3):
                assert rcode(await ask(port, query("example.org"))) == message.SERVFAIL
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(ask(port, query("example.org")), 0.5)
            other = await _ask_from("127.0.0.2", port, query("example.org"))
            assert rcode(other) == message.SERVFAIL
        finally:
            await service.close()

    async def test_past_the_queries_in_flight_the_answer_is_servfail_at_once(
        self, upstream: Upstream
    ) -> None:
        service = NameService(forwarder=Forwarder([upstream.addr], limit=1))
        port = free_port()
        try:
            await service.listen("127.0.0.1", port)
            waiting = asyncio.create_task(ask(port, query("a.example")))
            await upstream.receive()
            refused = await asyncio.wait_for(ask(port, query("b.example")), 0.5)
            assert rcode(refused) == message.SERVFAIL
            waiting.cancel()
        finally:
            await service.close()


async def _ask_from(source: str, port: int, data: bytes) -> bytes:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((source, 0))
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        await loop.sock_sendto(sock, data, ("127.0.0.1", port))
        reply, _ = await asyncio.wait_for(loop.sock_recvfrom(sock, 4096), 5)
        return reply
