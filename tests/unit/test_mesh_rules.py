"""agent.mesh.rules: the iptables-restore input a node writes for the ingress view, as text."""

from __future__ import annotations

from agent.mesh.rules import (
    FORWARD_CHAIN,
    INGRESS_CHAIN,
    LOCALNET_CHAIN,
    POSTROUTING_CHAIN,
    destinations,
    our_chains,
    render,
    render_removal,
    service_chain,
)
from common.mesh_view import IngressBackend, IngressPort
from common.model import PortProtocol

TCP, UDP = PortProtocol.TCP, PortProtocol.UDP


def backend(
    task: str, node: str, addr: str, host_port: int, ip: str = "172.17.0.2"
) -> IngressBackend:
    return IngressBackend(task, node, addr, host_port, ip, 80)


WEB = IngressPort(
    "svc",
    8080,
    TCP,
    (
        backend("t1", "n1", "10.77.0.11", 32768, "172.17.0.2"),
        backend("t2", "n2", "10.77.0.12", 32769, "172.17.0.2"),
        backend("t3", "n3", "10.77.0.13", 32770, "172.17.0.3"),
    ),
)


def lines(text: str, prefix: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(prefix)]


class TestDestinations:
    def test_own_tasks_by_container_address_others_by_node_address(self) -> None:
        """Container addresses repeat across nodes (172.17.0.2 on n1 and n2): only this node's
        task is reached by its own; the others through their node's address and port."""
        assert destinations(WEB, "n1") == ["172.17.0.2:80", "10.77.0.12:32769", "10.77.0.13:32770"]
        assert destinations(WEB, "n2") == ["10.77.0.11:32768", "172.17.0.2:80", "10.77.0.13:32770"]

    def test_a_node_with_no_task_reaches_all_remotely(self) -> None:
        assert destinations(WEB, "n9") == [
            "10.77.0.11:32768",
            "10.77.0.12:32769",
            "10.77.0.13:32770",
        ]


class TestRender:
    def test_equal_odds_for_each_backend(self) -> None:
        """Rule i of n is taken with probability 1/(n-i): 1/3, then 1/2, then always."""
        chain = service_chain(WEB)
        text = render([WEB], "n9")
        assert lines(text, f"-A {chain}") == [
            f"-A {chain} -m statistic --mode random --probability 0.3333333333"
            " -p tcp -j DNAT --to-destination 10.77.0.11:32768",
            f"-A {chain} -m statistic --mode random --probability 0.5000000000"
            " -p tcp -j DNAT --to-destination 10.77.0.12:32769",
            f"-A {chain} -p tcp -j DNAT --to-destination 10.77.0.13:32770",
        ]

    def test_whole_payload(self) -> None:
        """Our chains declared (created or flushed), the port matched, redirected connections
        masqueraded and let through FORWARD; one atomic commit per table."""
        chain = service_chain(IngressPort("s", 8080, TCP))
        one = IngressPort("s", 8080, TCP, (backend("t1", "n2", "10.77.0.12", 32768),))
        assert render([one], "n1") == (
            "*nat\n"
            f":{INGRESS_CHAIN} - [0:0]\n"
            f":{POSTROUTING_CHAIN} - [0:0]\n"
            f":{chain} - [0:0]\n"
            f"-A {INGRESS_CHAIN} -p tcp -m tcp --dport 8080 -j {chain}\n"
            f"-A {chain} -p tcp -j DNAT --to-destination 10.77.0.12:32768\n"
            f"-A {POSTROUTING_CHAIN} -p tcp -m conntrack --ctstate DNAT --ctorigdstport 8080"
            " -j MASQUERADE\n"
            "COMMIT\n"
            "*filter\n"
            f":{FORWARD_CHAIN} - [0:0]\n"
            f":{LOCALNET_CHAIN} - [0:0]\n"
            f"-A {FORWARD_CHAIN} -p tcp -m conntrack --ctstate DNAT --ctorigdstport 8080"
            " -j ACCEPT\n"
            f"-A {LOCALNET_CHAIN} ! -i lo -d 127.0.0.0/8"
            " -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP\n"
            "COMMIT\n"
        )

    def test_udp(self) -> None:
        """A UDP port gets the same rules, matched and NATed as UDP."""
        dns = IngressPort("s", 5353, UDP, (backend("t1", "n2", "10.77.0.12", 32768),))
        text = render([dns], "n1")
        chain = service_chain(dns)
        assert f"-A {INGRESS_CHAIN} -p udp -m udp --dport 5353 -j {chain}" in text
        assert f"-A {chain} -p udp -j DNAT --to-destination 10.77.0.12:32768" in text
        assert "-p udp -m conntrack --ctstate DNAT --ctorigdstport 5353 -j MASQUERADE" in text
        assert service_chain(dns) != service_chain(IngressPort("s", 5353, TCP))

    def test_port_without_backends_has_no_rule(self) -> None:
        """With no task answering, the port is closed on the node (nothing to DNAT to); only
        the guard of 127.0.0.0/8 stays."""
        text = render([IngressPort("s", 8080, TCP)], "n1")
        assert "8080" not in text
        assert [line.split()[1] for line in lines(text, "-A")] == [LOCALNET_CHAIN]

    def test_stale_chains_are_flushed_then_deleted(self) -> None:
        """A chain of a port that went is declared (flushing it) and deleted after the rules
        that jumped to it were rewritten; a chain still wanted is kept."""
        text = render([WEB], "n1", stale=["SHOAL-SVC-GONE", service_chain(WEB)])
        assert ":SHOAL-SVC-GONE - [0:0]" in text
        assert lines(text, "-X") == ["-X SHOAL-SVC-GONE"]
        assert text.index("-X SHOAL-SVC-GONE") > text.index(f"-A {INGRESS_CHAIN}")

    def test_same_view_same_text(self) -> None:
        """Deterministic: chain names come from the port, the order from the ports."""
        other = IngressPort("t", 9090, TCP, WEB.backends)
        assert render([WEB, other], "n1") == render([other, WEB], "n1")


class TestChains:
    def test_names_fit_netfilter(self) -> None:
        assert len(service_chain(WEB)) <= 28

    def test_ours_from_iptables_save(self) -> None:
        saved = "*nat\n:PREROUTING ACCEPT [0:0]\n:DOCKER - [0:0]\n:SHOAL-INGRESS - [0:0]\nCOMMIT\n"
        assert our_chains(saved) == ["SHOAL-INGRESS"]

    def test_the_networks_chains_are_not_ours(self) -> None:
        """SHOAL-NET-* belong to the cluster networks: removing the mesh must leave them (their
        jumps make deleting them fail, which failed the whole removal)."""
        saved = (
            "*nat\n:SHOAL-NET-VIP - [0:0]\n:SHOAL-SVC-X - [0:0]\n:SHOAL-POSTROUTING - [0:0]\n"
            "COMMIT\n*filter\n:SHOAL-NET-VXLAN - [0:0]\n:SHOAL-FORWARD - [0:0]\nCOMMIT\n"
        )
        assert our_chains(saved) == ["SHOAL-SVC-X", "SHOAL-POSTROUTING", FORWARD_CHAIN]

    def test_removal(self) -> None:
        text = render_removal([INGRESS_CHAIN, "SHOAL-SVC-X", FORWARD_CHAIN])
        assert lines(text, "-X") == [
            f"-X {INGRESS_CHAIN}",
            "-X SHOAL-SVC-X",
            f"-X {FORWARD_CHAIN}",
        ]
