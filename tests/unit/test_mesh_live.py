"""The routing mesh end to end in memory: the manager's view over real gRPC into each agent's
netfilter (FakeTables, which applies iptables-restore input as the kernel would)."""

from __future__ import annotations

import grpc
import pytest

from agent import netfilter_guard
from agent.mesh.fake import FakeTables
from agent.mesh.rules import FORWARD_CHAIN, INGRESS_CHAIN, SERVICE_PREFIX
from agent.runtime.fake import FakeRuntime
from common import convert
from common.api import control_pb2 as pb
from common.model import ContainerSpec, NodeState, PortConfig, PublishMode, ServiceSpec
from tests.unit.harness import Harness, running, wait_state
from tests.waiting import eventually


def spec(name: str, *ports: PortConfig, replicas: int = 3) -> ServiceSpec:
    return ServiceSpec(
        name=name,
        replicas=replicas,
        container=ContainerSpec(image="local/busybox:latest"),
        ports=ports,
    )


async def create(h: Harness, s: ServiceSpec) -> None:
    await h.control.CreateService(pb.CreateServiceRequest(spec=convert.spec_to_pb(s)))


def dnat_targets(tables: FakeTables) -> list[str]:
    """Where the node sends port 8080's connections, from its rules."""
    jumps = [r for r in tables.rules("nat", INGRESS_CHAIN) if "--dport 8080" in r]
    if not jumps:
        return []
    chain = jumps[0].rsplit(" ", 1)[-1]
    return [r.rsplit(" ", 1)[-1] for r in tables.rules("nat", chain)]


def service_chains(tables: FakeTables) -> list[str]:
    return [c for c in tables.tables["nat"] if c.startswith(SERVICE_PREFIX)]


@pytest.fixture
async def mesh(harness: Harness) -> dict[str, tuple[FakeRuntime, FakeTables]]:
    # Every node is at 127.0.0.1 here: ports from separate ranges keep the backends apart.
    nodes = {
        name: (FakeRuntime(last_host_port=40000 + 100 * i), FakeTables())
        for i, name in enumerate(("a1", "a2"))
    }
    for name, (runtime, tables) in nodes.items():
        await harness.join(name, runtime, tables)
    for hostname in ("mgr", "a1", "a2"):
        await wait_state(harness, hostname, NodeState.READY)
    return nodes


async def test_every_node_balances_over_every_replica(
    harness: Harness, mesh: dict[str, tuple[FakeRuntime, FakeTables]]
) -> None:
    """3 replicas, one per node: each agent DNATs 8080 to all three, its own by container
    address on the target port, the others by node address and the port docker picked."""
    await create(harness, spec("web", PortConfig(80, 8080)))
    for runtime, tables in mesh.values():
        await eventually(lambda t=tables: len(dnat_targets(t)) == 3, "3 backends on each node")  # type: ignore[misc]
        (own,) = runtime.containers_by_id.values()
        assert f"{own.ports[0].container_ip}:80" in dnat_targets(tables)
        assert sum(t.endswith(":80") for t in dnat_targets(tables)) == 1
        assert any(
            "--ctorigdstport 8080 -j ACCEPT" in r for r in tables.rules("filter", FORWARD_CHAIN)
        )


async def test_a_dead_replica_drops_out_then_its_replacement_comes_in(
    harness: Harness, mesh: dict[str, tuple[FakeRuntime, FakeTables]]
) -> None:
    await create(harness, spec("web", PortConfig(80, 8080)))
    (runtime1, _), (_, tables2) = mesh["a1"], mesh["a2"]
    await eventually(lambda: len(dnat_targets(tables2)) == 3, "3 backends")
    (victim,) = runtime1.containers_by_id.values()
    gone = f"127.0.0.1:{victim.ports[0].host_port}"
    assert gone in dnat_targets(tables2)
    runtime1.exit(victim.id, 137)
    await eventually(lambda: gone not in dnat_targets(tables2), "the dead replica out", 1.0)
    await eventually(lambda: len(dnat_targets(tables2)) == 3, "its replacement in")


async def test_service_rm_leaves_no_rule(
    harness: Harness, mesh: dict[str, tuple[FakeRuntime, FakeTables]]
) -> None:
    await create(harness, spec("web", PortConfig(80, 8080)))
    tables = [t for _, t in mesh.values()]
    await eventually(lambda: all(len(dnat_targets(t)) == 3 for t in tables), "3 backends")
    await harness.control.RemoveService(pb.RemoveServiceRequest(ref="web"))
    for t in tables:
        await eventually(lambda t=t: not service_chains(t), "the service chain gone")  # type: ignore[misc]
        assert t.rules("nat", INGRESS_CHAIN) == []
        assert t.rules("filter", FORWARD_CHAIN) == []


async def test_restarted_agent_drops_what_went_while_it_was_away(harness: Harness) -> None:
    """Chains an earlier run left (its service removed meanwhile) go with the first write; the
    foreign rules around them stay as they were."""
    tables = FakeTables()
    tables.tables["nat"]["DOCKER"] = ["-p tcp -j DNAT --to-destination 172.17.0.5:80"]
    tables.tables["nat"]["PREROUTING"] = ["-m addrtype --dst-type LOCAL -j DOCKER"]
    await tables.ensure_jumps()
    await tables.restore(
        "*nat\n:SHOAL-SVC-STALE - [0:0]\n"
        "-A SHOAL-INGRESS -p tcp -m tcp --dport 9999 -j SHOAL-SVC-STALE\n"
        "-A SHOAL-SVC-STALE -p tcp -j DNAT --to-destination 10.0.0.9:1\nCOMMIT\n"
    )
    await harness.join("a1", FakeRuntime(), tables)
    await eventually(lambda: not service_chains(tables), "the stale chain gone")
    assert tables.rules("nat", INGRESS_CHAIN) == []
    assert tables.rules("nat", "DOCKER") == ["-p tcp -j DNAT --to-destination 172.17.0.5:80"]
    assert tables.rules("nat", "PREROUTING")[1:] == ["-m addrtype --dst-type LOCAL -j DOCKER"]


async def test_two_services_cannot_share_an_ingress_port(harness: Harness) -> None:
    await create(harness, spec("web", PortConfig(80, 8080), replicas=0))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await create(harness, spec("other", PortConfig(81, 8080), replicas=0))
    assert (
        caught.value.details()
        == "port 8080/tcp is already in use by service web as an ingress port"
    )
    listed = await harness.control.ListServices(pb.ListServicesRequest())
    assert [s.service.spec.name for s in listed.services] == ["web"]


async def test_an_allocated_port_shows_in_the_endpoint(harness: Harness) -> None:
    """The allocator gives the port once Control has stored the spec."""
    await create(harness, spec("web", PortConfig(80), replicas=0))

    async def given() -> bool:
        got = await harness.control.GetService(pb.GetServiceRequest(ref="web"))
        return [(p.target, p.published) for p in got.service.endpoint_ports] == [(80, 30000)]

    await eventually(given, "port 30000 for target 80")


async def test_host_mode_tasks_never_share_a_node(harness: Harness) -> None:
    """Four tasks binding host port 8080 on three nodes: three run, one waits, saying why."""
    engines = [FakeRuntime(), FakeRuntime()]
    for i, runtime in enumerate(engines):
        await harness.join(f"a{i}", runtime)
    await create(harness, spec("web", PortConfig(80, 8080, mode=PublishMode.HOST), replicas=4))
    everyone = [harness.manager_runtime, *engines]
    await eventually(lambda: sum(len(running(rt)) for rt in everyone) == 3, "3 containers")
    assert [len(running(rt)) for rt in everyone] == [1, 1, 1]
    listed = await harness.control.ListTasks(pb.ListTasksRequest(service_ref="web"))
    reasons = [t.status.err for t in listed.tasks if t.status.err]
    assert reasons == ["no suitable node (host port 8080/tcp in use on 3 nodes)"]


async def test_rules_flushed_by_another_tool_come_back(
    harness: Harness,
    mesh: dict[str, tuple[FakeRuntime, FakeTables]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`iptables -t nat -F` on a node empties its DNAT chains and drops its jumps: the kernel
    reports the change, the agent's check finds what is missing and writes it again, with no
    change from the manager (and long before its periodic check)."""
    monkeypatch.setattr(netfilter_guard, "PERIOD", 3600)
    await create(harness, spec("web", PortConfig(80, 8080)))
    _, tables = mesh["a1"]
    await eventually(lambda: len(dnat_targets(tables)) == 3, "3 backends")
    tables.flush("nat")
    assert dnat_targets(tables) == []
    await eventually(lambda: len(dnat_targets(tables)) == 3, "the rules written again")
    assert any(r.endswith(f"-j {INGRESS_CHAIN}") for r in tables.rules("nat", "PREROUTING"))
