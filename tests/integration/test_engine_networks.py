"""A node's engine side of a cluster network, on the real engine: the bridge network on the
node's slice, a container joining it with the node's name server, and its removal. (VXLAN and
the NAT rules need a lab: tests/e2e/test_networks.py.)"""

from __future__ import annotations

import os

import docker

from agent.overlay import names
from agent.overlay.engine import EngineNetworks
from agent.runtime.base import NODE_LABEL, TASK_LABEL, RunSpec
from agent.runtime.docker import DockerRuntime
from agent.worker import network_addresses
from common.ids import new_id
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
    networks = EngineNetworks(os.environ.get("DOCKER_HOST"))
    runtime = DockerRuntime(os.environ.get("DOCKER_HOST"))
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
        await networks.close()
        await runtime.close()
