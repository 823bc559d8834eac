"""A node's engine side of a cluster network, on the real engine: the bridge network on the
node's slice, a container joining it with the node's name server, and its removal. (VXLAN and
the NAT rules need a lab: tests/e2e/test_networks.py.)"""

from __future__ import annotations

import os

import docker

from agent.engine_client import EngineClient
from agent.lifecycle import network_addresses
from agent.overlay import names
from agent.overlay.engine import NETWORK_LABEL, EngineNetworks
from agent.runtime.base import NODE_LABEL, TASK_LABEL, RunSpec
from agent.runtime.docker import DockerRuntime
from common.ids import new_id
from common.model import PortConfig
from common.netview import NodeNetwork
from tests.waiting import SLEEPER

IMAGE = "local/busybox:latest"


async def test_container_gets_an_address_of_the_nodes_slice(engine: docker.APIClient) -> None:
    network = NodeNetwork(
        id=new_id(),
        name="it",
        # Far from docker's defaults and from the default pool of cluster networks.
        subnet="10.251.0.0/16",
        vni=4096,
        slice="10.251.3.0/24",
        gateway="10.251.3.1",
    )
    client = EngineClient(os.environ.get("DOCKER_HOST"))
    networks = EngineNetworks(client, new_id())
    runtime = DockerRuntime(client)
    container = ""
    try:
        await networks.create(network)
        assert network.id in await networks.present()
        info = await runtime.run(
            RunSpec(
                name=f"it-net-{network.id[:8]}",
                image=IMAGE,
                args=tuple(SLEEPER),
                labels={NODE_LABEL: "it-net", TASK_LABEL: "t1"},
                networks=(names.engine_network(network.id),),
                dns=(network.gateway,),
            )
        )
        container = info.id
        # The slice's first address is kept out and its second is the gateway's.
        assert network_addresses(info) == {network.id: "10.251.3.2"}
        assert engine.inspect_container(container)["HostConfig"]["Dns"] == ["10.251.3.1"]
        bridge = engine.inspect_network(names.engine_network(network.id))["Options"]
        assert bridge["com.docker.network.bridge.name"] == names.bridge(network.id)
    finally:
        if container:
            await runtime.remove(container)
        await networks.remove(network.id)
        assert network.id not in await networks.present()
        await client.close()


async def test_published_port_on_cluster_networks_names_a_local_address(
    engine: docker.APIClient,
) -> None:
    """A container whose networks are all cluster networks (so the engine's legacy IPAddress is
    empty) still reports where the node reaches its published port: its address on one of
    them. The mesh DNATs this node's share of the traffic there (issue 22)."""
    frontend = NodeNetwork(
        new_id(), "it-front", "10.252.0.0/16", 4097, "10.252.5.0/24", "10.252.5.1"
    )
    backend = NodeNetwork(new_id(), "it-back", "10.253.0.0/16", 4098, "10.253.6.0/24", "10.253.6.1")
    client = EngineClient(os.environ.get("DOCKER_HOST"))
    networks = EngineNetworks(client, new_id())
    runtime = DockerRuntime(client)
    container = ""
    try:
        for network in (frontend, backend):
            await networks.create(network)
        info = await runtime.run(
            RunSpec(
                name=f"it-net-ports-{frontend.id[:8]}",
                image=IMAGE,
                args=tuple(SLEEPER),
                labels={NODE_LABEL: "it-net", TASK_LABEL: "t2"},
                networks=tuple(names.engine_network(n.id) for n in (frontend, backend)),
                ports=(PortConfig(80),),
            )
        )
        container = info.id
        addresses = network_addresses(info)
        assert addresses == {frontend.id: "10.252.5.2", backend.id: "10.253.6.2"}
        [binding] = info.ports
        assert binding.host_port > 0
        assert binding.container_ip in addresses.values()
        assert engine.inspect_container(container)["NetworkSettings"]["IPAddress"] == ""
    finally:
        if container:
            await runtime.remove(container)
        for network in (frontend, backend):
            await networks.remove(network.id)
        await client.close()


async def test_an_agent_removes_only_its_own_clusters_networks(engine: docker.APIClient) -> None:
    """Two clusters on one engine (test clusters side by side): one's cleanup leaves the
    other's network, and a network made before networks were labelled with their cluster,
    which nothing says is its own, is used by a node that wants it but removed by none."""
    ours = NodeNetwork(new_id(), "it-ours", "10.254.0.0/16", 4099, "10.254.1.0/24", "10.254.1.1")
    theirs = NodeNetwork(
        new_id(), "it-theirs", "10.249.0.0/16", 4100, "10.249.1.0/24", "10.249.1.1"
    )
    legacy = new_id()
    client = EngineClient(os.environ.get("DOCKER_HOST"))
    mine, other = EngineNetworks(client, new_id()), EngineNetworks(client, new_id())
    try:
        await mine.create(ours)
        await other.create(theirs)
        engine.create_network(names.engine_network(legacy), labels={NETWORK_LABEL: legacy})
        assert set(await mine.present()) == {ours.id}
        assert set(await other.present()) == {theirs.id}
        # An unlabelled network is used by the node whose view names it, and by no other.
        assert set(await mine.present([legacy])) == {ours.id, legacy}
        await mine.remove_all()
        assert set(await other.present()) == {theirs.id}
        assert set(await mine.present([legacy])) == {legacy}
        assert not await mine.remove(legacy)
        assert not await mine.remove(theirs.id)
        assert theirs.id in await other.present()
    finally:
        await mine.remove(ours.id)
        await other.remove(theirs.id)
        engine.remove_network(names.engine_network(legacy))
        await client.close()
