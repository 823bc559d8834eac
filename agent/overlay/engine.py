"""The engine's side of a network: a bridge network per node, on the whole subnet (so every
container of the network, on any node, is on-link) but handing out addresses only from this
node's slice, with the slice's first address as the bridge's own.

An engine may serve nodes of several clusters (test clusters side by side, or a host moved from
one cluster to another): each engine network is labelled with its cluster's ID, and an agent
removes only its own cluster's. A network made before that label existed is used while it is
one of this node's networks (its name holds the network's ID, which no other cluster has), and
otherwise left alone, never removed: nothing tells which cluster it belongs to. `docker network
rm` removes it once unused."""

from __future__ import annotations

from collections.abc import Callable, Collection
from ipaddress import IPv4Network
from typing import TypeVar

import docker
import docker.types

from agent.engine_client import EngineClient
from agent.overlay import links, names
from common.errors import NotFound
from common.netview import NodeNetwork

R = TypeVar("R")

NETWORK_LABEL = "shoal.network.id"
CLUSTER_LABEL = "shoal.cluster.id"


class EngineNetworks:
    def __init__(self, engine: EngineClient, cluster_id: str) -> None:
        self._engine = engine
        self._cluster_id = cluster_id

    async def _call(self, fn: Callable[[docker.APIClient], R]) -> R:
        return await self._engine.call(fn)

    async def present(self, wanted: Collection[str] = ()) -> dict[str, str]:
        """network ID -> the engine network's ID, for every network of this cluster the engine
        has, and those of wanted made before networks were labelled with their cluster (any
        other unlabelled one may be another cluster's, and is not shown)."""
        found = await self._call(lambda api: api.networks(filters={"label": NETWORK_LABEL}))
        result = {}
        for entry in found:
            network_id = names.network_of(entry["Name"])
            cluster = (entry.get("Labels") or {}).get(CLUSTER_LABEL)
            legacy = cluster is None and network_id in wanted
            if network_id is not None and (cluster == self._cluster_id or legacy):
                result[network_id] = entry["Id"]
        return result

    async def create(self, network: NodeNetwork) -> None:
        part = IPv4Network(network.slice)
        pool = docker.types.IPAMPool(
            subnet=network.subnet,
            iprange=network.slice,
            gateway=network.gateway,
            # The engine would hand out the slice's first and last addresses too (they are not
            # the subnet's); kept out, no container gets an address ending in .0 or .255.
            aux_addresses={
                "slice-first": str(part.network_address),
                "slice-last": str(part.broadcast_address),
            },
        )
        await self._call(
            lambda api: api.create_network(
                names.engine_network(network.id),
                driver="bridge",
                ipam=docker.types.IPAMConfig(pool_configs=[pool]),
                options={
                    "com.docker.network.bridge.name": names.bridge(network.id),
                    "com.docker.network.driver.mtu": str(links.MTU),
                },
                labels={NETWORK_LABEL: network.id, CLUSTER_LABEL: self._cluster_id},
                check_duplicate=True,
            )
        )

    async def remove(self, network_id: str) -> bool:
        """Whether the network is gone: False for one this cluster's label is not on, left."""
        name = names.engine_network(network_id)

        def remove_ours(api: docker.APIClient) -> bool:
            labels = api.inspect_network(name).get("Labels") or {}
            if labels.get(CLUSTER_LABEL) != self._cluster_id:
                return False
            api.remove_network(name)
            return True

        try:
            return await self._call(remove_ours)
        except NotFound:
            return True

    async def remove_all(self) -> None:
        """Every network of this cluster on the engine (their containers gone first)."""
        for network_id in await self.present():
            await self.remove(network_id)
