"""Builders for domain objects in unit tests: every field has a sensible default, tests name only
what they care about."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from common.model import (
    Availability,
    ContainerSpec,
    Meta,
    Node,
    NodeState,
    Service,
    ServiceSpec,
    Task,
    TaskState,
    TaskStatus,
)

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
SERVICE_ID = "svc1"
SERVICE_NAME = "web"
IMAGE = "local/busybox:latest"


def at(seconds: float) -> datetime:
    """T0 plus a number of seconds: keeps timestamps in tests short and readable."""
    return T0 + timedelta(seconds=seconds)


def service(
    replicas: int = 1,
    *,
    service_id: str = SERVICE_ID,
    name: str = SERVICE_NAME,
    image: str = IMAGE,
) -> Service:
    return Service(
        id=service_id,
        spec=ServiceSpec(name=name, container=ContainerSpec(image=image), replicas=replicas),
        meta=Meta(version=1, created_at=T0, updated_at=T0),
    )


def task(
    task_id: str,
    slot: int = 1,
    *,
    service_id: str = SERVICE_ID,
    service_name: str = SERVICE_NAME,
    image: str = IMAGE,
    node_id: str = "",
    desired: TaskState = TaskState.RUNNING,
    state: TaskState | None = None,
    created: datetime = T0,
    status_at: datetime | None = None,
    container_id: str = "",
    err: str = "",
    exit_code: int = 0,
    version: int = 1,
) -> Task:
    """A stored task. Its state defaults to RUNNING on a node, PENDING without one."""
    if state is None:
        state = TaskState.RUNNING if node_id else TaskState.PENDING
    return Task(
        id=task_id,
        service_id=service_id,
        service_name=service_name,
        slot=slot,
        spec=ContainerSpec(image=image),
        meta=Meta(version=version, created_at=created, updated_at=created),
        node_id=node_id,
        desired_state=desired,
        status=TaskStatus(
            state=state,
            timestamp=status_at if status_at is not None else created,
            container_id=container_id,
            err=err,
            exit_code=exit_code,
        ),
    )


def node(
    node_id: str,
    *,
    state: NodeState = NodeState.READY,
    availability: Availability = Availability.ACTIVE,
) -> Node:
    return Node(id=node_id, state=state, availability=availability)
