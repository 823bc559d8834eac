"""The ContainerRuntime protocol: everything the agent needs from an engine, nothing more."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Protocol

from common.errors import Unavailable
from common.model import HealthCheck, Mount, PortBinding, PortConfig, RegistryAuth

# The labels every Shoal container carries; the agent keeps no database and rebuilds from these.
NODE_LABEL = "shoal.node.id"
SERVICE_ID_LABEL = "shoal.service.id"
SERVICE_NAME_LABEL = "shoal.service.name"
TASK_LABEL = "shoal.task.id"
SLOT_LABEL = "shoal.task.slot"

# Told a pull's percentage as it grows, on the event loop.
PullProgress = Callable[[int], None]

# ContainerInfo.health, as docker reports it; "" for a container without a health check.
HEALTH_STARTING = "starting"
HEALTH_UNHEALTHY = "unhealthy"


class EngineDown(Unavailable):
    """The engine did not answer at all (as opposed to answering with an error): whatever was
    asked of it may succeed once it is back."""


@dataclass(frozen=True)
class EngineInfo:
    # Unique per engine and the same for every agent on it (DockerRuntime's _engine_id).
    id: str
    version: str
    nano_cpus: int
    memory_bytes: int
    os: str
    arch: str


@dataclass(frozen=True)
class RunSpec:
    name: str
    image: str
    args: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)
    # Zero: no limit.
    nano_cpus: int = 0
    memory_bytes: int = 0
    # Empty or False: the image's or the engine's default.
    hostname: str = ""
    entrypoint: tuple[str, ...] = ()
    user: str = ""
    workdir: str = ""
    mounts: tuple[Mount, ...] = ()
    stop_signal: str = ""
    init: bool = False
    read_only: bool = False
    healthcheck: HealthCheck | None = None
    # Published on the node: each target on its published port, or on one the engine picks (0).
    ports: tuple[PortConfig, ...] = ()
    # Engine networks to join, the first at creation; empty: the engine's default bridge.
    networks: tuple[str, ...] = ()
    # Name servers the engine's own resolver passes the names it does not know on to.
    dns: tuple[str, ...] = ()


@dataclass(frozen=True)
class ContainerInfo:
    id: str
    task_id: str
    running: bool
    exit_code: int = 0
    error: str = ""
    health: str = ""
    # Where its published ports are on the node, while it runs.
    ports: tuple[PortBinding, ...] = ()
    # Engine network name -> the container's address on it.
    addresses: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ContainerEvent:
    """Something happened to a container of ours (health_status included); the worker
    re-inspects it."""

    container_id: str
    task_id: str
    action: str


@dataclass(frozen=True)
class LogEntry:
    """One line a container wrote: when the engine stamped it (ns since the epoch), whether on
    stderr, and the bytes without their line end."""

    timestamp_ns: int
    stderr: bool
    data: bytes


class ContainerRuntime(Protocol):
    async def info(self) -> EngineInfo: ...

    async def containers(self, node_id: str) -> list[ContainerInfo]:
        """Every container, running or not, labelled with node_id."""
        ...

    async def inspect(self, container_id: str) -> ContainerInfo | None: ...

    async def ensure_image(
        self,
        image: str,
        auth: RegistryAuth | None = None,
        progress: PullProgress | None = None,
    ) -> None:
        """Pull image when the engine lacks it (docker's --pull missing) with auth's
        credentials, and never with this host's own docker configuration's (None: with none),
        telling progress how far it came."""
        ...

    async def run(self, spec: RunSpec) -> ContainerInfo:
        """Create and start a container; what it is doing right after (its health included)."""
        ...

    async def stop(self, container_id: str, grace_seconds: float) -> None: ...

    async def remove(self, container_id: str) -> None: ...

    def events(self, node_id: str, since: int) -> AsyncIterator[ContainerEvent]:
        """Lifecycle events of node_id's containers from since (Unix time) on, until the engine
        goes away (then it raises Unavailable)."""
        ...

    def logs(
        self, container_id: str, *, follow: bool, tail: int | None, since_ns: int
    ) -> AsyncIterator[LogEntry]:
        """The container's lines stamped at or after since_ns (0: all), only the last tail of
        them (None: all); with follow, then those it writes until it stops. NotFound when the
        container is gone."""
        ...
