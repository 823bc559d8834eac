"""manager.allocator.ports: allocation of ingress ports and their cluster-wide uniqueness."""

from __future__ import annotations

from dataclasses import replace

import pytest

from common.errors import InvalidArgument
from common.model import PortConfig, PortProtocol, PublishMode, Service
from common.ports import reserved_ports
from manager.allocator.ports import ALLOCATION_RANGE, endpoint_ports
from tests.unit.builders import service

UDP, HOST = PortProtocol.UDP, PublishMode.HOST


def holding(name: str, *ports: PortConfig) -> Service:
    return replace(service(service_id=name, name=name), endpoint_ports=ports)


class TestAllocation:
    def test_given_ports_are_kept(self) -> None:
        assert endpoint_ports("s", [PortConfig(80, 8080)], (), []) == (PortConfig(80, 8080),)

    def test_left_out_port_comes_from_the_range(self) -> None:
        """The lowest free port of 30000-32767, skipping those other services hold."""
        others = [holding("a", PortConfig(80, 30000)), holding("b", PortConfig(80, 30001))]
        assert endpoint_ports("s", [PortConfig(80)], (), others) == (PortConfig(80, 30002),)

    def test_an_update_keeps_the_port_given_before(self) -> None:
        """Ports allocated to a service stay with it when its spec is written again."""
        current = (PortConfig(80, 31000), PortConfig(443, 31001))
        ports = endpoint_ports("s", [PortConfig(443), PortConfig(80)], current, [])
        assert ports == (PortConfig(443, 31001), PortConfig(80, 31000))

    def test_host_ports_are_not_allocated(self) -> None:
        """The engine picks a host-mode port on each node."""
        assert endpoint_ports("s", [PortConfig(80, 0, mode=HOST)], (), []) == (
            PortConfig(80, 0, mode=HOST),
        )

    def test_range_exhausted(self) -> None:
        full = [holding("a", *(PortConfig(80, p) for p in ALLOCATION_RANGE))]
        with pytest.raises(InvalidArgument, match="no free ingress port"):
            endpoint_ports("s", [PortConfig(80)], (), full)


class TestConflicts:
    def test_two_services_cannot_publish_one_ingress_port(self) -> None:
        with pytest.raises(InvalidArgument, match="8080/tcp is already in use by service a"):
            endpoint_ports("s", [PortConfig(80, 8080)], (), [holding("a", PortConfig(80, 8080))])

    def test_an_ingress_port_collides_with_a_host_port(self) -> None:
        with pytest.raises(InvalidArgument, match="as a host port"):
            endpoint_ports(
                "s", [PortConfig(80, 8080)], (), [holding("a", PortConfig(80, 8080, mode=HOST))]
            )

    def test_host_ports_of_two_services_may_share_a_number(self) -> None:
        """They only collide on a node, which the scheduler keeps apart."""
        others = [holding("a", PortConfig(80, 8080, mode=HOST))]
        endpoint_ports("s", [PortConfig(81, 8080, mode=HOST)], (), others)

    def test_other_protocol_is_another_port(self) -> None:
        others = [holding("a", PortConfig(53, 53))]
        assert endpoint_ports("s", [PortConfig(53, 53, UDP)], (), others)

    def test_the_service_itself_is_no_conflict(self) -> None:
        mine = holding("s", PortConfig(80, 8080))
        assert endpoint_ports("s", [PortConfig(80, 8080)], mine.endpoint_ports, [mine])

    def test_the_managers_ports_are_not_to_be_taken(self) -> None:
        """An ingress port answers on every node: on the manager's port it would cut the
        cluster off its manager."""
        with pytest.raises(InvalidArgument, match="port 7462/tcp is reserved"):
            endpoint_ports("s", [PortConfig(80, 7462)], (), [], reserved=reserved_ports(7462))

    @pytest.mark.parametrize(
        ("port", "shown"),
        [
            (PortConfig(80, 4789, UDP, HOST), "4789/udp"),
            (PortConfig(80, 53, UDP), "53/udp"),
            (PortConfig(80, 53, mode=HOST), "53/tcp"),
            (PortConfig(80, 2376), "2376/tcp"),
            (PortConfig(80, 2379), "2379/tcp"),
            (PortConfig(80, 2380, mode=HOST), "2380/tcp"),
            (PortConfig(80, 7463), "7463/tcp"),
            (PortConfig(80, 9001), "9001/tcp"),
            (PortConfig(80, 9100), "9100/tcp"),
        ],
    )
    def test_the_nodes_own_ports_are_not_to_be_taken(self, port: PortConfig, shown: str) -> None:
        """VXLAN, DNS, the engine's TLS port, etcd's, the manager's (default and configured, with
        the join port above) and a metrics port are the cluster's own, in either publish mode."""
        reserved = reserved_ports(9000, metrics_port=9100)
        with pytest.raises(InvalidArgument, match=f"port {shown} is reserved"):
            endpoint_ports("s", [port], (), [], reserved=reserved)

    def test_other_protocol_of_a_reserved_port_is_free(self) -> None:
        """4789 is reserved for VXLAN over udp only: a tcp service may publish it."""
        assert endpoint_ports("s", [PortConfig(80, 4789)], (), [], reserved=reserved_ports(7462))
