"""A cluster network as the scheduler sees it: which nodes hold a slice of its subnet, at which
addresses, and how many slices are left for other nodes.

A node needs its own slice of each of a task's networks before the task can run there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(eq=False)
class NetworkRoom:
    """Shared by every service on the network and updated by each placement of a batch."""

    name: str
    # Node ID -> the address its overlay traffic uses ("" for none), for nodes holding a slice.
    holders: dict[str, str] = field(default_factory=dict)
    # Node ID -> its Docker engine's ID, for holders whose engine is known.
    engines: dict[str, str] = field(default_factory=dict)
    # Slices no node holds.
    free: int = 0
    # How many times a placement took a new slice: a verdict on any node may have changed.
    taken: int = 0

    @classmethod
    def of(
        cls, name: str, holders: Mapping[str, str], free: int, engines: Mapping[str, str]
    ) -> NetworkRoom:
        return cls(name, dict(holders), {n: e for n, e in engines.items() if e}, free)

    def holds(self, node_id: str) -> bool:
        return node_id in self.holders

    def engine_taken(self, node_id: str, engine: str) -> bool:
        """Whether another node on the same engine holds the network: the engine has one
        bridge per network, on that node's slice, so this node cannot have its own."""
        return bool(engine) and any(
            held == engine and holder != node_id for holder, held in self.engines.items()
        )

    def take(self, node_id: str, address: str, engine: str) -> None:
        if node_id not in self.holders:
            self.holders[node_id] = address
            if engine:
                self.engines[node_id] = engine
            self.free -= 1
            self.taken += 1
