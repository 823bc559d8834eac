"""What the client's calls answer besides the domain objects themselves: summaries, listings
with what a table needs beside them, plans, events, a CA rotation's progress."""

from __future__ import annotations

from dataclasses import dataclass

from common.model import ManagerStatus, Node, Service, Task


@dataclass(frozen=True)
class ServiceSummary:
    service: Service
    running: int
    desired: int
    # A job's completions reached and to reach.
    completed: int = 0
    total: int = 0


@dataclass(frozen=True)
class PlannedTask:
    """Where a task of a planned service would run (node), or why it could not (reason)."""

    slot: int
    node: str
    reason: str


@dataclass(frozen=True)
class TaskListing:
    tasks: list[Task]
    nodes: dict[str, Node]


@dataclass(frozen=True)
class NodeListing:
    nodes: list[Node]
    self_id: str
    # Each manager node's status, by node ID.
    managers: dict[str, ManagerStatus]
    # Whether each node's certificate is of the root that signs now, by node ID.
    tls: dict[str, str]


@dataclass(frozen=True)
class NodeDetails:
    node: Node
    manager: ManagerStatus | None
    # Whether its certificate is of the root that signs now (`node ls`'s TLS STATUS).
    tls_status: str


@dataclass(frozen=True, repr=False)
class JoinDetails:
    token: str
    manager_addr: str

    def __repr__(self) -> str:
        return f"JoinDetails(<redacted>, manager_addr={self.manager_addr!r})"


@dataclass(frozen=True)
class ClusterEvent:
    type: str
    action: str
    id: str
    attributes: tuple[tuple[str, str], ...]
    time_unix_nano: int


@dataclass(frozen=True)
class CAProgress:
    """How far a CA rotation is: live nodes on the new root, of all live nodes."""

    rotating: bool
    moved: int
    total: int
    pending: tuple[str, ...]
    ca_pem: bytes
