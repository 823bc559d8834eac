"""The manager's own node (as in Swarm, the manager's host runs tasks too): the one place where
the manager and the agent meet in one process. manager/server.py knows only that something runs
its node; this module says what (the agent, on this host's engine, mesh and networks). Nothing
else in manager/ imports agent/."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable

from agent.distribution import EngineDistribution
from agent.engine_client import EngineClient
from agent.mesh.netfilter import Netfilter
from agent.mesh.sync import MeshSync
from agent.metrics import AgentMetrics
from agent.node import NodeAgent
from agent.overlay.node_networks import NodeNetworks, node_networks
from agent.runtime.base import ContainerRuntime
from agent.runtime.docker import DockerRuntime
from manager.server import ManagerConfig, NodeSeat, RunNode, Started, data_address, serve

# The node's networks for its cluster (by ID): engine networks are labelled with it.
NetworksFor = Callable[[str], NodeNetworks]


def local_node(
    runtime: ContainerRuntime,
    networks_for: NetworksFor | None,
    *,
    routing_mesh: bool,
    data_addr: str,
) -> RunNode:
    """An agent on runtime (and networks: none, its tasks cannot join cluster networks) for the
    seat the manager gives its node."""

    async def run(seat: NodeSeat) -> None:
        cluster_id = seat.bundle.subject.cluster_id
        networks = networks_for(cluster_id) if networks_for is not None else None
        try:
            await NodeAgent(
                seat.node_id,
                seat.target,
                runtime,
                seat.hostname,
                seat.bundle,
                seat.state_dir,
                MeshSync(seat.node_id, Netfilter()) if routing_mesh else None,
                networks=networks,
                data_addr=data_addr,
                metrics=AgentMetrics(seat.registry),
            ).run()
        finally:
            if networks is not None:
                await networks.close()

    return run


async def serve_with_node(
    config: ManagerConfig,
    stop: asyncio.Event,
    started: Callable[[Started], None] | None = None,
) -> None:
    """The manager and its node on this host's engine, until stop is set."""
    engine = EngineClient(config.docker_host)
    data_addr = data_address(config.advertise)
    node = local_node(
        DockerRuntime(engine),
        functools.partial(node_networks, engine, data_addr=data_addr),
        routing_mesh=config.routing_mesh,
        data_addr=data_addr,
    )
    try:
        await serve(config, node, stop, started, EngineDistribution(engine))
    finally:
        await engine.close()
