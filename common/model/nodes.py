"""Nodes: their roles, availability, state, description, and the managers among them."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from common.model.meta import Meta


class NodeRole(enum.IntEnum):
    WORKER = 0
    MANAGER = 1


class Availability(enum.IntEnum):
    ACTIVE = 0
    PAUSE = 1
    DRAIN = 2


class NodeState(enum.IntEnum):
    UNKNOWN = 0
    DOWN = 1
    READY = 2
    DISCONNECTED = 3


@dataclass(frozen=True)
class Resources:
    nano_cpus: int = 0
    memory_bytes: int = 0


@dataclass(frozen=True)
class NodeDescription:
    hostname: str = ""
    engine_version: str = ""
    resources: Resources = Resources()
    os: str = ""
    arch: str = ""
    # The agent's Shoal release and session protocol; 0: an agent from before they were said.
    version: str = ""
    protocol: int = 0
    # The Docker engine's ID ("" unknown): two nodes on one engine are told apart by it.
    engine_id: str = ""
    # Where other nodes send this node's overlay traffic; empty: Node.addr.
    data_addr: str = ""


@dataclass(frozen=True)
class Node:
    id: str
    meta: Meta = Meta()
    role: NodeRole = NodeRole.WORKER
    availability: Availability = Availability.ACTIVE
    state: NodeState = NodeState.UNKNOWN
    message: str = ""
    description: NodeDescription = NodeDescription()
    addr: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    # Digest of the root CA that issued the certificate the node presented at its last session:
    # how a CA rotation knows who has moved (common/ca_status.py names the states).
    cert_root: str = ""


class Reachability(enum.IntEnum):
    UNKNOWN = 0
    UNREACHABLE = 1
    REACHABLE = 2


@dataclass(frozen=True)
class ManagerStatus:
    """A manager node's place among the managers as the answering manager sees it now; never
    stored: it comes from the managers' leases. addr: its dispatcher's HOST:PORT."""

    leader: bool
    reachability: Reachability
    addr: str


@dataclass(frozen=True)
class ManagerList:
    """The managers' dispatcher addresses (HOST:PORT), the leader first, as an agent gets them."""

    addrs: tuple[str, ...]
