"""What a node's agent changes to match its network view, and how a task waits for its
networks."""

from __future__ import annotations

import pytest

from agent.dns.server import NameService
from agent.engine_client import EngineClient
from agent.overlay import names, node_networks
from agent.overlay.engine import EngineNetworks
from agent.overlay.node_networks import NodeNetworks, plan
from common.errors import Unavailable
from common.netview import NetworkView, NodeNetwork


def part(network_id: str) -> NodeNetwork:
    return NodeNetwork(network_id, network_id, "10.128.0.0/16", 4096, "10.128.1.0/24", "10.128.1.1")


class TestPlan:
    def test_first_view_creates_what_the_engine_lacks(self) -> None:
        changes = plan(NetworkView(networks=(part("a"), part("b"))), {"b"}, set(), set())
        assert [n.id for n in changes.create] == ["a"]
        assert changes.remove == frozenset()

    def test_networks_left_out_go_from_engine_and_host(self) -> None:
        devices = {names.vxlan("a"), names.vxlan("gone"), "vxlan-not-ours"}
        changes = plan(NetworkView(networks=(part("a"),)), {"a", "old"}, {"a", "gone"}, devices)
        assert changes.remove == {"old", "gone"}
        assert changes.stale_devices == {names.vxlan("gone")}
        assert changes.create == ()

    def test_empty_view_removes_everything_of_ours(self) -> None:
        changes = plan(NetworkView(), {"a"}, {"a"}, {names.vxlan("a")})
        assert changes.remove == {"a"}
        assert changes.stale_devices == {names.vxlan("a")}


def offline_networks() -> NodeNetworks:
    """Networks of a node with no engine behind them: nothing made, nothing to attach to."""
    return NodeNetworks(
        EngineNetworks(EngineClient(None), "c1"), "10.77.0.11", NameService(upstreams=[])
    )


class TestAttach:
    async def test_a_task_without_networks_needs_nothing(self) -> None:
        networks = NodeNetworks(
            EngineNetworks(EngineClient(None), "c1"), "10.77.0.11", NameService(upstreams=[])
        )
        attached = await networks.attach(())
        assert (attached.engine_networks, attached.dns) == ((), ())

    async def test_a_network_never_made_here_fails_the_task(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(node_networks, "ATTACH_TIMEOUT", 0.05)
        networks = NodeNetworks(
            EngineNetworks(EngineClient(None), "c1"), "10.77.0.11", NameService(upstreams=[])
        )
        with pytest.raises(Unavailable, match="network front not available on this node"):
            await networks.attach(("front",))
