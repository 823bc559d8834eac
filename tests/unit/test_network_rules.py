"""The netfilter rules a node's network view asks for, as iptables-restore input."""

from __future__ import annotations

from agent.overlay import names
from agent.overlay.rules import restore_text
from common.netview import Endpoint, NetworkView, NodeNetwork

NET = "frontendnetworkid"
BRIDGE = names.bridge(NET)


def view(*endpoints: Endpoint) -> NetworkView:
    part = NodeNetwork(
        id=NET,
        name="frontend",
        subnet="10.128.0.0/16",
        vni=4096,
        slice="10.128.1.0/24",
        gateway="10.128.1.1",
        endpoints=endpoints,
    )
    return NetworkView(networks=(part,), foreign_subnets=("10.140.0.0/16",))


def lines(text: str, chain: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.startswith(f"-A {chain} ")]


def test_virtual_ip_spreads_connections_evenly_over_running_tasks() -> None:
    text = restore_text(view(Endpoint("api", "10.128.0.2", ("10.128.1.5", "10.128.2.5", "x"))))
    assert lines(text, "SHOAL-NET-VIP") == [
        f"-A SHOAL-NET-VIP -i {BRIDGE} -d 10.128.0.2/32 -m statistic --mode random"
        " --probability 0.33333 -j DNAT --to-destination 10.128.1.5",
        f"-A SHOAL-NET-VIP -i {BRIDGE} -d 10.128.0.2/32 -m statistic --mode random"
        " --probability 0.50000 -j DNAT --to-destination 10.128.2.5",
        f"-A SHOAL-NET-VIP -i {BRIDGE} -d 10.128.0.2/32 -j DNAT --to-destination x",
    ]
    assert lines(text, "SHOAL-NET-SNAT") == [
        f"-A SHOAL-NET-SNAT -o {BRIDGE} -m conntrack --ctstate DNAT --ctorigdst 10.128.0.0/16"
        " -j MASQUERADE"
    ]


def test_virtual_ip_without_tasks_refuses() -> None:
    text = restore_text(view(Endpoint("api", "10.128.0.2", ())))
    assert lines(text, "SHOAL-NET-VIP") == []
    assert lines(text, "SHOAL-NET-INPUT") == [
        "-A SHOAL-NET-INPUT -d 10.128.0.2/32 -p tcp -j REJECT --reject-with tcp-reset",
        "-A SHOAL-NET-INPUT -d 10.128.0.2/32 -j REJECT --reject-with icmp-port-unreachable",
    ]


def test_dnsrr_service_has_no_nat() -> None:
    text = restore_text(view(Endpoint("api", "", ("10.128.1.5",))))
    assert lines(text, "SHOAL-NET-VIP") == []
    assert lines(text, "SHOAL-NET-INPUT") == []


def test_other_networks_are_dropped() -> None:
    assert lines(restore_text(view()), "SHOAL-NET-ISOLATE") == [
        f"-A SHOAL-NET-ISOLATE -i {BRIDGE} -d 10.140.0.0/16 -j DROP"
    ]


def test_each_table_declares_its_chains_and_commits() -> None:
    text = restore_text(view())
    assert text.startswith("*nat\n:SHOAL-NET-VIP - [0:0]\n:SHOAL-NET-SNAT - [0:0]\n")
    assert "*filter\n:SHOAL-NET-INPUT - [0:0]\n:SHOAL-NET-ISOLATE - [0:0]\n" in text
    assert text.count("COMMIT\n") == 2
    assert text.endswith("COMMIT\n")
