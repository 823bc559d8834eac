"""The agent checks the views it gets before building rules from them: a bad entry is skipped,
the rest is built as usual."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from agent.mesh.checks import checked as checked_port
from agent.mesh.fake import FakeTables
from agent.mesh.sync import MeshSync
from agent.overlay.rules import restore_text
from agent.overlay.view_checks import checked as checked_view
from common.mesh_view import IngressBackend, IngressPort
from common.model import PortProtocol
from common.netview import Endpoint, NetworkView, NodeNetwork
from tests.waiting import eventually

NEWLINE = "10.77.0.12\n-I PREROUTING 1 -j ACCEPT"


def backend(
    task: str, node: str, addr: str, host_port: int, ip: str = "172.17.0.2"
) -> IngressBackend:
    return IngressBackend(task, node, addr, host_port, ip, 80)


class TestIngress:
    def test_bad_backends_are_skipped_and_good_ones_kept(self) -> None:
        port = IngressPort(
            "svc",
            8080,
            PortProtocol.TCP,
            (
                backend("good", "n2", "10.77.0.12", 30001),
                backend("newline", "n3", NEWLINE, 30002),
                backend("port", "n3", "10.77.0.13", 70000),
                backend("mine", "n1", "", 0, "172.17.0.2\n-j ACCEPT"),
            ),
        )
        sound = checked_port(port, "n1")
        assert sound is not None
        assert [b.task_id for b in sound.backends] == ["good"]

    def test_a_port_out_of_range_is_skipped(self) -> None:
        assert checked_port(IngressPort("svc", 70000, PortProtocol.TCP), "n1") is None

    async def test_a_bad_entry_never_breaks_the_other_rules(self) -> None:
        """Before, a port 70000 made every iptables-restore fail, and the rules stayed stale."""
        tables = FakeTables()
        ingress = MeshSync("n1", tables)
        runner = asyncio.create_task(ingress.run())
        try:
            ingress.apply(
                [
                    IngressPort(
                        "a", 8080, PortProtocol.TCP, (backend("t1", "n2", "10.77.0.12", 30001),)
                    ),
                    IngressPort(
                        "b", 8081, PortProtocol.TCP, (backend("t2", "n3", NEWLINE, 70000),)
                    ),
                    IngressPort(
                        "c", 70000, PortProtocol.TCP, (backend("t3", "n2", "10.77.0.12", 30003),)
                    ),
                ],
                [],
                full=True,
            )
            await eventually(lambda: ingress.writes > 0, "a write")
        finally:
            runner.cancel()
        written = tables.payloads[-1]
        assert "--to-destination 10.77.0.12:30001" in written
        for bad in ("PREROUTING 1", "70000", "30003"):
            assert bad not in written


NET = NodeNetwork(
    id="n1abc",
    name="net",
    subnet="10.128.0.0/16",
    vni=4097,
    slice="10.128.1.0/24",
    gateway="10.128.1.1",
    peers=("10.77.0.12", "192.0.2.7\nx", "10.128.2.1", "127.0.0.1"),
    endpoints=(
        Endpoint("web", "10.128.0.2", ("10.128.1.5", "8.8.8.8", "10.128.2.5\n", "10.128.3.7")),
        Endpoint("evil\nname", "10.128.0.3", ("10.128.1.6",)),
        Endpoint("api", "8.8.8.8", ("10.128.1.7",)),
    ),
)


class TestNetworkView:
    def test_bad_entries_are_skipped_the_rest_kept(self) -> None:
        view = checked_view(NetworkView(networks=(NET,), foreign_subnets=("10.129.0.0/16", "x\n")))
        (net,) = view.networks
        assert net.peers == ("10.77.0.12",)
        assert net.endpoints == (Endpoint("web", "10.128.0.2", ("10.128.1.5", "10.128.3.7")),)
        assert view.foreign_subnets == ("10.129.0.0/16",)
        text = restore_text(view)
        assert "8.8.8.8" not in text
        assert "evil" not in text

    def test_aliases_are_kept_and_bad_ones_skipped(self) -> None:
        """A stack's short names reach the name server; one that is no name does not."""
        aliased = Endpoint("app_web", "10.128.0.2", (), ("web", "www", "x\ny"))
        view = checked_view(NetworkView(networks=(replace(NET, endpoints=(aliased,)),)))
        assert view.networks[0].endpoints == (
            Endpoint("app_web", "10.128.0.2", (), ("web", "www")),
        )

    def test_a_network_with_bad_own_fields_is_skipped_whole(self) -> None:
        bad = [
            replace(NET, id="x\ny"),
            replace(NET, subnet="10.128.0.0/16\n"),
            replace(NET, slice="10.200.1.0/24"),
            replace(NET, gateway="10.128.9.1"),
            replace(NET, vni=1 << 24),
        ]
        good = replace(NET, id="good")
        view = checked_view(NetworkView(networks=(*bad, good)))
        assert [n.id for n in view.networks] == ["good"]
