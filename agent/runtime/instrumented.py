"""A ContainerRuntime that times every call it passes on to another, for the agent's metrics.
The long-lived streams (events, logs) are passed on as they are: their length says nothing."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable
from typing import TypeVar

from agent.metrics import AgentMetrics
from agent.runtime.base import (
    ContainerEvent,
    ContainerInfo,
    ContainerRuntime,
    EngineInfo,
    LogEntry,
    PullProgress,
    RunSpec,
)
from common.model import RegistryAuth

R = TypeVar("R")


class InstrumentedRuntime:
    def __init__(self, inner: ContainerRuntime, metrics: AgentMetrics) -> None:
        self._inner = inner
        self._metrics = metrics

    async def _timed(self, operation: str, call: Awaitable[R]) -> R:
        started = time.monotonic()
        try:
            return await call
        except Exception:
            self._metrics.engine_errors.labels(operation).inc()
            raise
        finally:
            self._metrics.engine_latency.labels(operation).observe(time.monotonic() - started)

    async def info(self) -> EngineInfo:
        return await self._timed("info", self._inner.info())

    async def containers(self, node_id: str) -> list[ContainerInfo]:
        return await self._timed("list", self._inner.containers(node_id))

    async def inspect(self, container_id: str) -> ContainerInfo | None:
        return await self._timed("inspect", self._inner.inspect(container_id))

    async def ensure_image(
        self,
        image: str,
        auth: RegistryAuth | None = None,
        progress: PullProgress | None = None,
    ) -> None:
        await self._timed("ensure_image", self._inner.ensure_image(image, auth, progress))

    async def run(self, spec: RunSpec) -> ContainerInfo:
        try:
            info = await self._timed("run", self._inner.run(spec))
        except Exception:
            self._metrics.container_start_failures.inc()
            raise
        self._metrics.container_starts.inc()
        return info

    async def stop(self, container_id: str, grace_seconds: float) -> None:
        await self._timed("stop", self._inner.stop(container_id, grace_seconds))

    async def remove(self, container_id: str) -> None:
        await self._timed("remove", self._inner.remove(container_id))

    def events(self, node_id: str, since: int) -> AsyncIterator[ContainerEvent]:
        return self._inner.events(node_id, since)

    def logs(
        self, container_id: str, *, follow: bool, tail: int | None, since_ns: int
    ) -> AsyncIterator[LogEntry]:
        return self._inner.logs(container_id, follow=follow, tail=tail, since_ns=since_ns)
