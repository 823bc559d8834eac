"""Which VXLAN frames a node takes: the rule text of SHOAL-NET-VXLAN for a network view."""

from __future__ import annotations

from agent.overlay.rules import restore_text
from common.netview import NetworkView, NodeNetwork

PORT = "-p udp -m udp --dport 4789"


def network(name: str, vni: int, *peers: str) -> NodeNetwork:
    return NodeNetwork(
        id=f"{name}networkid",
        name=name,
        subnet="10.128.0.0/16",
        vni=vni,
        slice="10.128.1.0/24",
        gateway="10.128.1.1",
        peers=peers,
    )


def vxlan_rules(view: NetworkView) -> list[str]:
    return [ln for ln in restore_text(view).splitlines() if ln.startswith("-A SHOAL-NET-VXLAN ")]


def accepted(peer: str, vni: int) -> str:
    return f'-A SHOAL-NET-VXLAN -s {peer}/32 {PORT} -m u32 --u32 "0>>22&0x3C@12>>8={vni}" -j RETURN'


DROP_REST = f"-A SHOAL-NET-VXLAN {PORT} -j DROP"


def test_each_peer_is_accepted_for_its_networks_vni_and_the_rest_dropped() -> None:
    """A peer of one network may not speak for another: the VNI is part of the match."""
    view = NetworkView(
        networks=(
            network("front", 4096, "10.77.0.13", "10.77.0.12"),
            network("back", 4097, "10.77.0.12"),
        )
    )
    assert vxlan_rules(view) == [
        accepted("10.77.0.12", 4096),
        accepted("10.77.0.13", 4096),
        accepted("10.77.0.12", 4097),
        DROP_REST,
    ]


def test_a_node_that_is_no_longer_a_peer_is_dropped() -> None:
    before = vxlan_rules(
        NetworkView(networks=(network("front", 4096, "10.77.0.12", "10.77.0.13"),))
    )
    after = vxlan_rules(NetworkView(networks=(network("front", 4096, "10.77.0.12"),)))
    assert accepted("10.77.0.13", 4096) in before
    assert after == [accepted("10.77.0.12", 4096), DROP_REST]


def test_a_network_without_peers_takes_no_frame() -> None:
    assert vxlan_rules(NetworkView(networks=(network("front", 4096),))) == [DROP_REST]


def test_a_peer_that_is_not_an_ipv4_address_never_reaches_the_rules() -> None:
    view = NetworkView(
        networks=(
            network("front", 4096, "10.77.0.12\n-I INPUT 1 -j ACCEPT", "fe80::1", "", "10.77.0.13"),
        )
    )
    text = restore_text(view)
    assert "-I INPUT" not in text
    assert vxlan_rules(view) == [accepted("10.77.0.13", 4096), DROP_REST]


def test_the_chain_is_declared_in_the_filter_table() -> None:
    text = restore_text(NetworkView(networks=(network("front", 4096),)))
    filter_table = text.split("*filter\n", 1)[1]
    assert ":SHOAL-NET-VXLAN - [0:0]\n" in filter_table
