"""An in-memory engine for unit tests and hollow nodes in scale benchmarks."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from agent.runtime.base import (
    HEALTH_STARTING,
    NODE_LABEL,
    TASK_LABEL,
    ContainerEvent,
    ContainerInfo,
    EngineDown,
    EngineInfo,
    LogEntry,
    PullProgress,
    RunSpec,
)
from common.errors import InvalidArgument, NotFound, Unavailable
from common.ids import new_id
from common.model import PortBinding, RegistryAuth


@dataclass
class FakeContainer:
    id: str
    spec: RunSpec
    running: bool = True
    exit_code: int = 0
    health: str = ""
    # The grace period of the stop that ended it, if one did.
    stop_grace: float | None = None
    ports: tuple[PortBinding, ...] = ()


@dataclass
class FakeRuntime:
    images: set[str] = field(default_factory=lambda: {"local/busybox:latest"})
    # Images a pull would find; any other missing image fails to pull.
    pullable: set[str] = field(default_factory=set)
    # Every pull succeeds, as on a host that reaches every registry (hollow nodes).
    pull_any: bool = False
    # Pullable images a pull finds only with these credentials (a private registry's).
    private: dict[str, RegistryAuth] = field(default_factory=dict)
    # The credentials each pull came with, in order.
    pull_auths: list[RegistryAuth | None] = field(default_factory=list)
    # When set, a pull tells 50 % and then waits for it: a test sees a pull under way.
    pull_gate: asyncio.Event | None = None
    # Images with a HEALTHCHECK of their own.
    checked_images: set[str] = field(default_factory=set)
    containers_by_id: dict[str, FakeContainer] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    # While set, every call fails as an engine that stopped answering does.
    down: bool = False
    # Each fake is an engine of its own, unless a test shares one.
    engine_id: str = field(default_factory=new_id)
    memory_bytes: int = 1 << 30
    # Images whose containers exit with code 1 as soon as they start, as a broken release does.
    crashing: set[str] = field(default_factory=set)
    # What each container wrote, in order; write_log() adds to it.
    log_lines: dict[str, list[LogEntry]] = field(default_factory=dict)
    # Log streams open now: a cancelled reader must not linger.
    log_readers: int = 0
    # The last host port handed out for a published port the engine picks, as docker counts.
    last_host_port: int = 32767

    def __post_init__(self) -> None:
        self._subscribers: list[asyncio.Queue[ContainerEvent | None]] = []
        self._log_written = asyncio.Event()

    def _answer(self) -> None:
        if self.down:
            raise EngineDown("docker engine unreachable: connection refused")

    def stop_engine(self) -> None:
        """The engine goes away: calls fail and event streams end, as with a killed dockerd."""
        self.down = True
        for queue in self._subscribers:
            queue.put_nowait(None)

    async def info(self) -> EngineInfo:
        self._answer()
        return EngineInfo(
            id=self.engine_id,
            version="fake-1.0",
            nano_cpus=2_000_000_000,
            memory_bytes=self.memory_bytes,
            os="linux",
            arch="x86_64",
        )

    def _info(self, c: FakeContainer) -> ContainerInfo:
        return ContainerInfo(
            c.id,
            c.spec.labels.get(TASK_LABEL, ""),
            c.running,
            c.exit_code,
            health=c.health,
            ports=c.ports if c.running else (),
        )

    def _bind(self, spec: RunSpec, ip: str) -> tuple[PortBinding, ...]:
        bound = []
        for p in spec.ports:
            host_port = p.published
            if not host_port:
                self.last_host_port += 1
                host_port = self.last_host_port
            bound.append(PortBinding(p.target, host_port, p.protocol, ip))
        return tuple(bound)

    async def containers(self, node_id: str) -> list[ContainerInfo]:
        self._answer()
        return [
            self._info(c)
            for c in self.containers_by_id.values()
            if c.spec.labels.get(NODE_LABEL) == node_id
        ]

    async def inspect(self, container_id: str) -> ContainerInfo | None:
        self._answer()
        c = self.containers_by_id.get(container_id)
        return None if c is None else self._info(c)

    async def ensure_image(
        self,
        image: str,
        auth: RegistryAuth | None = None,
        progress: PullProgress | None = None,
    ) -> None:
        self._answer()
        if image in self.images:
            return
        self.calls.append(f"pull {image}")
        self.pull_auths.append(auth)
        if image not in self.pullable and not self.pull_any:
            raise NotFound(f"pull access denied for {image}, repository does not exist")
        if self.pull_gate is not None:
            if progress is not None:
                progress(50)
            await self.pull_gate.wait()
        if image in self.private and auth != self.private[image]:
            raise InvalidArgument(f"Head {image}: unauthorized: authentication required")
        if progress is not None:
            progress(100)
        self.images.add(image)

    async def run(self, spec: RunSpec) -> ContainerInfo:
        self._answer()
        if spec.image not in self.images:
            raise NotFound(f"No such image: {spec.image}")
        c = FakeContainer(id=new_id() + new_id(), spec=spec)
        c.ports = self._bind(spec, f"172.17.0.{len(self.containers_by_id) % 250 + 2}")
        if self._health_checked(spec):
            c.health = HEALTH_STARTING
        self.containers_by_id[c.id] = c
        self.calls.append(f"run {spec.name}")
        self._emit(c, "start")
        if spec.image in self.crashing:
            self.exit(c.id, 1)
        return self._info(c)

    def _health_checked(self, spec: RunSpec) -> bool:
        """As docker decides: the spec's test, else the image's, unless the spec says NONE."""
        check = spec.healthcheck
        if check is not None and (check.disabled or check.test):
            return not check.disabled
        return spec.image in self.checked_images

    def set_health(self, container_id: str, status: str) -> None:
        """A health check's verdict, as the engine announces it."""
        c = self.containers_by_id[container_id]
        c.health = status
        self._emit(c, "health_status")

    def exit(self, container_id: str, code: int) -> None:
        """Make a container exit on its own, as a crashing process would."""
        c = self.containers_by_id[container_id]
        c.running, c.exit_code = False, code
        self._emit(c, "die")

    async def stop(self, container_id: str, grace_seconds: float) -> None:
        self._answer()
        c = self.containers_by_id.get(container_id)
        if c is None:
            raise NotFound(f"No such container: {container_id}")
        self.calls.append(f"stop {c.spec.name}")
        c.stop_grace = grace_seconds
        if c.running:
            c.running, c.exit_code = False, 137
            self._emit(c, "die")

    async def remove(self, container_id: str) -> None:
        self._answer()
        c = self.containers_by_id.pop(container_id, None)
        if c is not None:
            self.calls.append(f"remove {c.spec.name}")
            self._emit(c, "destroy")

    def write_log(self, container_id: str, text: bytes, *, stderr: bool = False) -> None:
        """The container writes a line (text without its line end)."""
        lines = self.log_lines.setdefault(container_id, [])
        stamp = time.time_ns()
        if lines:
            # Real stamps rarely tie; these never do, so tests can tell lines apart by time.
            stamp = max(stamp, lines[-1].timestamp_ns + 1)
        lines.append(LogEntry(stamp, stderr, text))
        self._wake_log_readers()

    def _wake_log_readers(self) -> None:
        self._log_written.set()
        self._log_written = asyncio.Event()

    async def logs(
        self, container_id: str, *, follow: bool, tail: int | None, since_ns: int
    ) -> AsyncIterator[LogEntry]:
        self._answer()
        if container_id not in self.containers_by_id:
            raise NotFound(f"No such container: {container_id}")
        lines = self.log_lines.setdefault(container_id, [])
        start = next((i for i, e in enumerate(lines) if e.timestamp_ns >= since_ns), len(lines))
        if tail is not None:
            start = max(start, len(lines) - tail)
        self.log_readers += 1
        try:
            while True:
                while start < len(lines):
                    start += 1
                    yield lines[start - 1]
                container = self.containers_by_id.get(container_id)
                if not follow or container is None or not container.running:
                    return
                await self._log_written.wait()
        finally:
            self.log_readers -= 1

    def _emit(self, c: FakeContainer, action: str) -> None:
        self._wake_log_readers()
        event = ContainerEvent(c.id, c.spec.labels.get(TASK_LABEL, ""), action)
        for queue in self._subscribers:
            queue.put_nowait(event)

    async def events(self, node_id: str, since: int) -> AsyncIterator[ContainerEvent]:
        self._answer()
        queue: asyncio.Queue[ContainerEvent | None] = asyncio.Queue()
        self._subscribers.append(queue)
        try:
            while True:
                event = await queue.get()
                if event is None:
                    raise Unavailable("docker engine closed its event stream")
                c = self.containers_by_id.get(event.container_id)
                if c is None or c.spec.labels.get(NODE_LABEL) == node_id:
                    yield event
        finally:
            self._subscribers.remove(queue)
