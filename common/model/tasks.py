"""Tasks: one slot's container as the manager wants it and as its node last reported it."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

from common.model.containers import ContainerSpec
from common.model.meta import EPOCH, Meta
from common.model.nodes import Resources
from common.model.services import PortBinding, PortConfig


class TaskState(enum.IntEnum):
    """Ordered: an observed state only ever moves to a higher value."""

    NEW = 0
    PENDING = 1
    ASSIGNED = 2
    ACCEPTED = 3
    PREPARING = 4
    STARTING = 5
    RUNNING = 6
    COMPLETE = 7
    FAILED = 8
    SHUTDOWN = 9
    REJECTED = 10
    ORPHANED = 11

    @property
    def terminal(self) -> bool:
        return self >= TaskState.COMPLETE


@dataclass(frozen=True)
class TaskStatus:
    state: TaskState = TaskState.NEW
    timestamp: datetime = EPOCH
    message: str = ""
    err: str = ""
    container_id: str = ""
    exit_code: int = 0
    # Where the container's published ports ended up on its node.
    ports: tuple[PortBinding, ...] = ()
    # network ID -> the container's address on it.
    addresses: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Task:
    id: str
    service_id: str
    service_name: str
    slot: int
    spec: ContainerSpec
    meta: Meta = Meta()
    node_id: str = ""
    desired_state: TaskState = TaskState.RUNNING
    status: TaskStatus = TaskStatus()
    restart_streak: int = 0
    restart_times: tuple[datetime, ...] = ()
    finished: bool = False
    reservations: Resources = Resources()
    # The service's force_update when the task was made.
    force_update: int = 0
    # What the container publishes on its node (common.publish.task_ports of the service's).
    ports: tuple[PortConfig, ...] = ()
    # The service's networks when the task was made.
    networks: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return f"{self.service_name}.{self.slot}"
