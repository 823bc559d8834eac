"""The engine's side of a network: a bridge network per node, on the whole subnet (so every
container of the network, on any node, is on-link) but handing out addresses only from this
node's slice, with the slice's first address as the bridge's own."""

from __future__ import annotations

from collections.abc import Callable
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


class EngineNetworks:
    def __init__(self, engine: EngineClient) -> None:
        self._engine = engine

    async def _call(self, fn: Callable[[docker.APIClient], R]) -> R:
        return await self._engine.call(fn)

    async def present(self) -> dict[str, str]:
        """network ID -> the engine network's ID, for every network of ours the engine has."""
        found = await self._call(lambda api: api.networks(filters={"label": NETWORK_LABEL}))
        result = {}
        for entry in found:
            network_id = names.network_of(entry["Name"])
            if network_id is not None:
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
                labels={NETWORK_LABEL: network.id},
                check_duplicate=True,
            )
        )

    async def remove(self, network_id: str) -> None:
        try:
            await self._call(lambda api: api.remove_network(names.engine_network(network_id)))
        except NotFound:
            return
