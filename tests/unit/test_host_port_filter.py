"""The scheduler's host-port filter: two tasks binding one host port never share a node."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

from common.model import Placement, PortConfig, PortProtocol, PublishMode, Task, TaskState
from manager.scheduler import Demand, NodeInfo, demand_of, schedule
from tests.unit.builders import node, task

HOST = PublishMode.HOST
TCP, UDP = PortProtocol.TCP, PortProtocol.UDP
WEB = demand_of(Placement(), [PortConfig(80, 8080, TCP, HOST)])


def pending(count: int, service_id: str = "svc1") -> list[Task]:
    return [task(f"{service_id}-{i}", i, service_id=service_id) for i in range(1, count + 1)]


def running(task_id: str, node_id: str, *ports: PortConfig, service_id: str = "old") -> Task:
    return replace(task(task_id, node_id=node_id, service_id=service_id), ports=ports)


class TestHostPorts:
    def test_one_task_per_node(self) -> None:
        """Three tasks binding 8080 on two nodes: two placed, the third says why."""
        nodes = [NodeInfo(node("a")), NodeInfo(node("b"))]
        decision = schedule(pending(3), nodes, {"svc1": WEB})
        assert Counter(decision.placements.values()) == {"a": 1, "b": 1}
        assert decision.reasons == {
            "svc1-3": "no suitable node (host port 8080/tcp in use on 2 nodes)"
        }

    def test_a_port_held_by_another_service(self) -> None:
        """A task already bound to 8080 keeps the node for itself, whatever its service."""
        holder = running("t0", "a", PortConfig(81, 8080, TCP, HOST))
        nodes = [NodeInfo.build(node("a"), [holder]), NodeInfo(node("b"))]
        decision = schedule(pending(1), nodes, {"svc1": WEB})
        assert decision.placements == {"svc1-1": "b"}

    def test_ports_come_from_the_demand_not_the_task(self) -> None:
        """During a rolling update the new tasks bind what the service's spec says now, even when
        the task object carries older ports (or none)."""
        old = running("t0", "a", PortConfig(80, 9090, TCP, HOST), service_id="svc1")
        nodes = [NodeInfo.build(node("a"), [old]), NodeInfo(node("b"))]
        stale = replace(pending(1)[0], ports=(PortConfig(80, 9090, TCP, HOST),))
        decision = schedule([stale], nodes, {"svc1": WEB})
        # 9090 is taken on a, yet the service now binds 8080: a is fine, and less loaded b wins.
        assert decision.placements == {"svc1-1": "b"}
        crowded = [NodeInfo.build(node("a"), [old])]
        assert schedule([stale], crowded, {"svc1": WEB}).placements == {"svc1-1": "a"}

    def test_other_protocol_and_ended_tasks_hold_nothing(self) -> None:
        udp = running("t0", "a", PortConfig(80, 8080, UDP, HOST))
        nodes = [NodeInfo.build(node("a"), [udp])]
        assert schedule(pending(1), nodes, {"svc1": WEB}).placements == {"svc1-1": "a"}

    def test_ingress_and_engine_picked_ports_bind_nothing_by_number(self) -> None:
        demand = demand_of(Placement(), [PortConfig(80, 8080), PortConfig(80, 0, TCP, HOST)])
        assert demand.host_ports == ()
        nodes = [NodeInfo(node("a"))]
        assert len(schedule(pending(3), nodes, {"svc1": demand}).placements) == 3

    def test_pinned_task_of_a_global_service(self) -> None:
        """A global service's task on a node whose port is taken stays pending, saying so."""
        holder = running("t0", "a", PortConfig(81, 8080, TCP, HOST))
        pinned = replace(
            pending(1)[0],
            node_id="a",
            status=replace(pending(1)[0].status, state=TaskState.PENDING),
        )
        decision = schedule([pinned], [NodeInfo.build(node("a"), [holder])], {"svc1": WEB})
        assert decision.reasons == {
            "svc1-1": "no suitable node (host port 8080/tcp in use on 1 node)"
        }

    def test_no_ports_no_filter(self) -> None:
        assert Demand().host_ports == ()
