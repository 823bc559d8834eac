"""Address plans of cluster networks: subnets, node slices, virtual IPs, VXLAN IDs."""

from __future__ import annotations

from ipaddress import IPv4Network

import pytest

from common.errors import Conflict, InvalidArgument, Unavailable
from manager.networks import ipam


class TestSubnets:
    @pytest.mark.parametrize(
        ("text", "why"),
        [
            ("10.1.0.0/33", "invalid subnet"),
            ("10.1.0.1/16", "has host bits set"),
            ("fd00::/64", "only IPv4"),
            ("10.1.0.0/25", "between /8 and /24"),
            ("10.0.0.0/7", "between /8 and /24"),
            ("frontend", "invalid subnet"),
        ],
    )
    def test_bad_subnet_is_refused(self, text: str, why: str) -> None:
        with pytest.raises(InvalidArgument, match=why):
            ipam.parse_subnet(text)

    @pytest.mark.parametrize(
        ("text", "what"),
        [
            ("127.0.0.0/8", "loopback"),
            ("127.5.0.0/16", "loopback"),
            ("169.254.0.0/16", "link-local"),
            ("224.1.0.0/16", "multicast"),
            ("239.255.255.0/24", "multicast"),
            ("0.0.0.0/8", "'this network'"),
            ("240.0.0.0/8", "reserved"),
        ],
    )
    def test_special_ranges_are_refused(self, text: str, what: str) -> None:
        """Loopback, link-local, multicast and 0/8 addresses mean something else to every host."""
        with pytest.raises(InvalidArgument, match=f"overlaps .*, {what}"):
            ipam.parse_subnet(text)

    def test_a_subnet_holding_a_nodes_address_is_refused(self) -> None:
        """A node's traffic to its own address (or a peer's) would go into the network."""
        nodes = [("h1", "10.77.0.11"), ("h2", ""), ("h3", "fe80::1"), ("h4", "10.77.0.13")]
        with pytest.raises(InvalidArgument, match=r"holds the address 10\.77\.0\.11 of node h1"):
            ipam.check_no_host(IPv4Network("10.77.0.0/16"), nodes)
        ipam.check_no_host(IPv4Network("10.78.0.0/16"), nodes)

    def test_overlap_names_the_other_network(self) -> None:
        taken = [("frontend", IPv4Network("10.1.0.0/16"))]
        with pytest.raises(Conflict, match=r"overlaps 10.1.0.0/16 of network frontend"):
            ipam.check_free(IPv4Network("10.1.128.0/17"), taken)
        ipam.check_free(IPv4Network("10.2.0.0/16"), taken)

    def test_default_pool_skips_taken_subnets(self) -> None:
        assert ipam.choose_subnet([]) == IPv4Network("10.128.0.0/16")
        taken = [IPv4Network("10.128.0.0/16"), IPv4Network("10.129.5.0/24")]
        assert ipam.choose_subnet(taken) == IPv4Network("10.130.0.0/16")

    def test_default_pool_used_up(self) -> None:
        with pytest.raises(Unavailable, match="give --subnet"):
            ipam.choose_subnet([ipam.DEFAULT_POOL])


class TestSlices:
    def test_a_slash_16_has_255_node_slices_of_slash_24(self) -> None:
        subnet = IPv4Network("10.128.0.0/16")
        assert ipam.slice_count(subnet) == 256
        assert ipam.node_slice(subnet, 3) == IPv4Network("10.128.3.0/24")
        assert str(ipam.gateway(ipam.node_slice(subnet, 3))) == "10.128.3.1"

    def test_a_slash_24_has_16_slices(self) -> None:
        subnet = IPv4Network("192.168.7.0/24")
        assert ipam.slice_count(subnet) == 16
        assert ipam.node_slice(subnet, 15) == IPv4Network("192.168.7.240/28")

    def test_slice_zero_is_never_a_nodes(self) -> None:
        subnet = IPv4Network("192.168.7.0/24")
        assert ipam.free_slice(subnet, []) == 1
        assert ipam.free_slice(subnet, [1, 2, 4]) == 3
        with pytest.raises(Unavailable, match="no slice left"):
            ipam.free_slice(subnet, range(1, 16))


class TestVirtualIPs:
    def test_lowest_free_address_of_slice_zero_after_its_first(self) -> None:
        subnet = IPv4Network("10.128.0.0/16")
        assert ipam.free_vip(subnet, []) == "10.128.0.2"
        assert ipam.free_vip(subnet, ["10.128.0.2", "", "10.128.0.4"]) == "10.128.0.3"

    def test_used_up(self) -> None:
        subnet = IPv4Network("192.168.7.0/24")
        used = [f"192.168.7.{i}" for i in range(2, 15)]
        with pytest.raises(Unavailable, match="no virtual IP left"):
            ipam.free_vip(subnet, used)


def test_vxlan_ids_start_above_the_reserved_range() -> None:
    assert ipam.free_vni([]) == ipam.VNI_BASE
    assert ipam.free_vni([ipam.VNI_BASE, ipam.VNI_BASE + 2]) == ipam.VNI_BASE + 1
