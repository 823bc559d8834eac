"""What `shoal info` shows: the cluster as one manager sees it, as docker info's Swarm section."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from common.version import Build


@dataclass(frozen=True)
class ManagerNode:
    node_id: str
    hostname: str
    addr: str
    leader: bool


@dataclass(frozen=True)
class ClusterInfo:
    cluster_id: str
    # The manager that answered.
    node_id: str
    manager_addr: str
    managers: tuple[ManagerNode, ...]
    nodes: int
    # state or availability (lower case) -> how many nodes; task state -> how many tasks.
    node_states: dict[str, int]
    node_availabilities: dict[str, int]
    services: int
    tasks: int
    task_states: dict[str, int]
    store_backend: str
    store_location: str
    heartbeat_period: timedelta
    ca_expiry: datetime
    node_cert_lifetime: timedelta
    node_cert_expiry: datetime | None
    server: Build
