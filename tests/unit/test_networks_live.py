"""Networks through the manager's Control API, with in-memory engines: creation, virtual IPs,
node slices, removal refused while in use, network changes as rolling updates."""

from __future__ import annotations

from dataclasses import replace

import grpc
import pytest

from common import convert
from common.api import control_pb2 as pb
from common.model import ContainerSpec, EndpointMode, Service, ServiceSpec, UpdateState
from manager.allocator.service import is_allocated
from tests.unit.harness import Harness
from tests.waiting import eventually


async def create_network(h: Harness, name: str, subnet: str = "") -> pb.NetworkResponse:
    return await h.control.CreateNetwork(pb.CreateNetworkRequest(name=name, subnet=subnet))


async def create_service(
    h: Harness, name: str, *networks: str, mode: EndpointMode = EndpointMode.VIP
) -> Service:
    spec = ServiceSpec(
        name=name,
        container=ContainerSpec(image="local/busybox:latest"),
        networks=networks,
        endpoint_mode=mode,
    )
    answer = await h.control.CreateService(pb.CreateServiceRequest(spec=convert.spec_to_pb(spec)))
    return await allocated(h, convert.service_from_pb(answer.service).id)


async def allocated(h: Harness, service_id: str) -> Service:
    """The service once the allocator gave it what its spec asks for (Control stores the spec
    only)."""
    found: list[Service] = []

    async def ready() -> bool:
        got = await h.control.GetService(pb.GetServiceRequest(ref=service_id))
        found[:] = [convert.service_from_pb(got.service)]
        return is_allocated(found[0])

    await eventually(ready, "the service's ports and virtual IPs")
    return found[0]


async def refused(call: object, code: grpc.StatusCode) -> str:
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await call  # type: ignore[misc]
    assert failed.value.code() == code
    return str(failed.value.details())


async def test_subnets_from_the_pool_or_given_and_never_overlapping(harness: Harness) -> None:
    first = (await create_network(harness, "frontend")).network
    second = (await create_network(harness, "backend")).network
    assert (first.subnet, second.subnet) == ("10.128.0.0/16", "10.129.0.0/16")
    assert first.vni != second.vni
    why = await refused(create_network(harness, "x", "10.129.4.0/24"), grpc.StatusCode.ABORTED)
    assert why == "subnet 10.129.4.0/24 overlaps 10.129.0.0/16 of network backend"
    why = await refused(create_network(harness, "frontend"), grpc.StatusCode.ABORTED)
    assert why == "network with name frontend already exists"
    listed = await harness.control.ListNetworks(pb.ListNetworksRequest())
    assert [n.name for n in listed.networks] == ["backend", "frontend"]


async def test_services_get_a_virtual_ip_per_network_unless_dnsrr(harness: Harness) -> None:
    front = (await create_network(harness, "frontend")).network
    api = await create_service(harness, "api", "frontend")
    web = await create_service(harness, "web", front.id)
    db = await create_service(harness, "db", "frontend", mode=EndpointMode.DNSRR)
    assert api.spec.networks == web.spec.networks == (front.id,)
    assert api.virtual_ips == {front.id: "10.128.0.2"}
    assert web.virtual_ips == {front.id: "10.128.0.3"}
    assert db.virtual_ips == {}
    why = await refused(create_service(harness, "x", "nowhere"), grpc.StatusCode.NOT_FOUND)
    assert why == "network nowhere not found"


async def test_nodes_running_its_tasks_get_slices(harness: Harness) -> None:
    front = (await create_network(harness, "frontend")).network
    await create_service(harness, "api", "frontend")

    async def sliced() -> bool:
        got = await harness.control.GetNetwork(pb.GetNetworkRequest(ref=front.id))
        return dict(got.network.slices) == {harness.node_id: 1}

    await eventually(sliced, "the manager's node to get slice 1")


async def test_network_in_use_cannot_be_removed(harness: Harness) -> None:
    await create_network(harness, "frontend")
    api = await create_service(harness, "api", "frontend")
    why = await refused(
        harness.control.RemoveNetwork(pb.RemoveNetworkRequest(ref="frontend")),
        grpc.StatusCode.ABORTED,
    )
    assert why == "network frontend is in use by service api: remove or update the service first"
    await harness.control.RemoveService(pb.RemoveServiceRequest(ref=api.id))

    async def removed() -> bool:
        try:
            await harness.control.RemoveNetwork(pb.RemoveNetworkRequest(ref="frontend"))
        except grpc.aio.AioRpcError:
            return False
        return True

    await eventually(removed, "frontend removed once api is gone")


async def test_changing_networks_is_a_rolling_update_and_frees_the_vip(harness: Harness) -> None:
    front = (await create_network(harness, "frontend")).network
    api = await create_service(harness, "api", "frontend")
    spec = replace(api.spec, networks=())
    answer = await harness.control.UpdateService(
        pb.UpdateServiceRequest(
            service_id=api.id, version=api.meta.version, spec=convert.spec_to_pb(spec)
        )
    )
    assert convert.service_from_pb(answer.service).update_status.state == UpdateState.UPDATING
    updated = await allocated(harness, api.id)
    assert updated.virtual_ips == {}
    other = await create_service(harness, "other", front.id)
    assert other.virtual_ips == {front.id: "10.128.0.2"}
