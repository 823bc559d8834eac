"""The name server: DNS messages, which names a container sees, and the server on loopback."""

from __future__ import annotations

import asyncio
import socket
import struct
from dataclasses import replace
from typing import cast

import pytest

from agent.dns import message
from agent.dns.records import Records
from agent.dns.server import NameService
from common.errors import Unavailable
from common.netview import Endpoint, NetworkView, NodeNetwork


def query(name: str, qtype: int = message.TYPE_A, qid: int = 0x1234) -> bytes:
    labels = b"".join(bytes([len(p)]) + p.encode() for p in name.split("."))
    return (
        struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0)
        + labels
        + b"\0"
        + struct.pack("!HH", qtype, message.CLASS_IN)
    )


def answers(reply: bytes) -> tuple[int, int, list[str]]:
    """(id, rcode, A record addresses) of a reply."""
    qid, flags, _, count, _, _ = struct.unpack_from("!HHHHHH", reply)
    end = reply.index(b"\0", 12) + 5
    addresses = []
    for _ in range(count):
        assert reply[end : end + 2] == b"\xc0\x0c"
        addresses.append(".".join(str(b) for b in reply[end + 12 : end + 16]))
        end += 16
    return qid, flags & 0xF, addresses


def network(net_id: str, subnet: str, *endpoints: Endpoint) -> NodeNetwork:
    return NodeNetwork(net_id, net_id, subnet, 4096, subnet, "", (), endpoints)


FRONT = network(
    "front",
    "10.128.0.0/16",
    Endpoint("api", "10.128.0.2", ("10.128.1.5", "10.128.2.5")),
    Endpoint("db", "", ("10.128.3.7",)),
)
BACK = network("back", "10.140.0.0/16", Endpoint("cache", "10.140.0.2", ()))
RECORDS = Records.of(NetworkView(networks=(FRONT, BACK)))


class TestMessages:
    def test_parse_a_question(self) -> None:
        parsed = message.parse(query("Tasks.API"))
        assert (parsed.id, parsed.name, parsed.qtype) == (0x1234, "tasks.api", message.TYPE_A)

    @pytest.mark.parametrize(
        "data",
        [b"\x00" * 5, query("api")[:-3], query("api")[:12] + b"\xc0\x0c\0\1\0\1"],
        ids=["short", "cut", "compressed"],
    )
    def test_malformed(self, data: bytes) -> None:
        with pytest.raises(message.Malformed):
            message.parse(data)

    def test_answer_echoes_the_question_with_a_records(self) -> None:
        reply = message.answer(message.parse(query("api")), ["10.128.0.2", "10.128.1.5"])
        assert answers(reply) == (0x1234, message.NOERROR, ["10.128.0.2", "10.128.1.5"])

    def test_too_many_addresses_are_truncated(self) -> None:
        many = [f"10.128.1.{i}" for i in range(1, 101)]
        reply = message.answer(message.parse(query("tasks.api")), many)
        assert len(reply) <= message.MAX_UDP
        assert struct.unpack_from("!H", reply, 2)[0] & 0x0200

    def test_error_reply(self) -> None:
        reply = message.error(query("api"), message.SERVFAIL)
        assert reply is not None
        qid, flags = struct.unpack_from("!HH", reply)
        assert (qid, flags & 0xF) == (0x1234, message.SERVFAIL)
        assert message.error(b"\x01", message.FORMERR) is None


class TestRecords:
    def test_vip_service_name_and_its_tasks(self) -> None:
        assert RECORDS.lookup("api", "10.128.1.9") == ["10.128.0.2"]
        assert RECORDS.lookup("tasks.api.", "10.128.1.9") == ["10.128.1.5", "10.128.2.5"]

    def test_dnsrr_service_name_gives_its_tasks(self) -> None:
        assert RECORDS.lookup("DB", "10.128.1.9") == ["10.128.3.7"]

    def test_a_task_on_two_networks_sees_both_whichever_it_asks_through(self) -> None:
        both = Endpoint("gateway", "", ("10.128.4.4",))
        also = Endpoint("gateway", "", ("10.140.4.4",))
        records = Records.of(
            NetworkView(
                networks=(
                    replace(FRONT, endpoints=(*FRONT.endpoints, both)),
                    replace(BACK, endpoints=(*BACK.endpoints, also)),
                )
            )
        )
        assert records.lookup("cache", "10.128.4.4") == ["10.140.0.2"]
        assert records.lookup("api", "10.140.4.4") == ["10.128.0.2"]
        assert records.lookup("cache", "10.128.9.9") is None

    def test_an_alias_answers_as_the_name_unless_a_service_has_it(self) -> None:
        """A stack's service `app_api` is `api` to its neighbours; a service's own name wins."""
        aliased = replace(
            FRONT,
            endpoints=(
                Endpoint("app_api", "10.128.0.9", ("10.128.1.8",), aliases=("API", "db")),
                *FRONT.endpoints,
            ),
        )
        records = Records.of(NetworkView(networks=(aliased, BACK)))
        assert records.lookup("app_api", "10.128.1.9") == ["10.128.0.9"]
        assert records.lookup("api", "10.128.1.9") == ["10.128.0.2"]
        assert records.lookup("tasks.api", "10.128.1.9") == ["10.128.1.5", "10.128.2.5"]
        alone = replace(aliased, endpoints=aliased.endpoints[:1])
        records = Records.of(NetworkView(networks=(alone, BACK)))
        assert records.lookup("api", "10.128.1.9") == ["10.128.0.9"]
        assert records.lookup("tasks.Api", "10.128.1.9") == ["10.128.1.8"]
        assert records.lookup("db", "10.128.1.9") == ["10.128.0.9"]
        assert records.lookup("api", "10.140.1.9") is None

    def test_only_the_askers_network(self) -> None:
        assert RECORDS.lookup("api", "10.140.1.9") is None
        assert RECORDS.lookup("cache", "10.140.1.9") == ["10.140.0.2"]
        assert RECORDS.lookup("api", "172.17.0.2") is None
        assert RECORDS.lookup("example.org", "10.128.1.9") is None


class _Upstream(asyncio.DatagramProtocol):
    """A name server that answers every query with 192.0.2.1."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # The selector loop's datagram transport does not subclass DatagramTransport.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        self.transport.sendto(message.answer(message.parse(data), ["192.0.2.1"]), addr)


async def ask(port: int, data: bytes) -> bytes:
    loop = asyncio.get_running_loop()
    received: asyncio.Future[bytes] = loop.create_future()

    class Client(asyncio.DatagramProtocol):
        def datagram_received(self, reply: bytes, addr: tuple[str | object, int]) -> None:
            received.set_result(reply)

    transport, _ = await loop.create_datagram_endpoint(Client, remote_addr=("127.0.0.1", port))
    try:
        transport.sendto(data)
        return await asyncio.wait_for(received, 5)
    finally:
        transport.close()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class TestServer:
    async def test_own_names_answered_others_forwarded(self) -> None:
        loop = asyncio.get_running_loop()
        upstream, _ = await loop.create_datagram_endpoint(_Upstream, local_addr=("127.0.0.1", 0))
        upstream_addr = upstream.get_extra_info("sockname")
        local = network("lo", "127.0.0.0/8", Endpoint("api", "127.0.0.2", ()))
        service = NameService(upstreams=[("127.0.0.1", free_port()), upstream_addr])
        service.update(NetworkView(networks=(local,)))
        port = free_port()
        try:
            await service.listen("127.0.0.1", port)
            assert answers(await ask(port, query("api")))[2] == ["127.0.0.2"]
            assert answers(await ask(port, query("api", qtype=28)))[1:] == (message.NOERROR, [])
            # The first upstream never answers; the second does.
            assert answers(await ask(port, query("example.org")))[2] == ["192.0.2.1"]
        finally:
            await service.close()
            upstream.close()

    async def test_unknown_name_fails_when_no_upstream_answers(self) -> None:
        service = NameService(upstreams=[("127.0.0.1", free_port())])
        port = free_port()
        try:
            await service.listen("127.0.0.1", port)
            failed = await ask(port, query("example.org"))
            assert struct.unpack_from("!H", failed, 2)[0] & 0xF == message.SERVFAIL
        finally:
            await service.close()

    async def test_an_address_not_on_this_host_is_one_error(self) -> None:
        service = NameService(upstreams=[])
        with pytest.raises(Unavailable, match=r"name server cannot listen on 192\.0\.2\.1"):
            await service.listen("192.0.2.1", free_port())
