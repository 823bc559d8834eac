"""The agent's one client of the Docker engine, shared by the task runtime, the cluster networks
and the log readers.

docker-py blocks, so every call runs on a worker thread, at most MAX_CONCURRENT_CALLS at once for
the whole agent. A stream (events, a followed log) holds its connection for as long as it runs,
so it gets a connection of its own: opened under the same limit, then held outside it. docker's
errors become ShoalErrors here and nowhere else.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

import docker
import docker.errors
import requests.exceptions
import urllib3.exceptions

from agent.runtime.base import EngineDown
from common.errors import InvalidArgument, NotFound, ShoalError, Unavailable

R = TypeVar("R")

# Calls in flight at once; the connection pool is sized to match so none queues inside it.
MAX_CONCURRENT_CALLS = 16
# Seconds a call may take; a stop's own grace period must fit in it (see DockerRuntime.stop).
CALL_TIMEOUT = 60


def translate(exc: Exception) -> ShoalError:
    if isinstance(exc, ShoalError):
        return exc
    if isinstance(exc, docker.errors.NotFound):
        return NotFound(_explain(exc))
    if isinstance(exc, docker.errors.APIError):
        if exc.is_client_error():
            return InvalidArgument(_explain(exc))
        return Unavailable(_explain(exc))
    if isinstance(exc, requests.exceptions.RequestException | docker.errors.DockerException):
        return EngineDown(f"docker engine unreachable: {exc}")
    if isinstance(exc, OSError | urllib3.exceptions.HTTPError):
        return EngineDown(f"docker engine connection failed: {exc}")
    raise exc


def _explain(exc: docker.errors.APIError) -> str:
    explanation = exc.explanation
    if isinstance(explanation, bytes):
        explanation = explanation.decode(errors="replace")
    return one_line(str(explanation or exc))


def one_line(text: str) -> str:
    """An engine's message as `service ps` shows it: the first line that says something."""
    return next((line.strip() for line in text.splitlines() if line.strip()), text.strip())


class EngineClient:
    def __init__(self, base_url: str | None) -> None:
        self.base_url = base_url or None
        self._limit = asyncio.Semaphore(MAX_CONCURRENT_CALLS)
        self._api: docker.APIClient | None = None

    def _connect(self) -> docker.APIClient:
        # Made on a worker thread: with version="auto" the constructor already asks the engine.
        if self._api is None:
            self._api = docker.APIClient(
                base_url=self.base_url,
                version="auto",
                timeout=CALL_TIMEOUT,
                max_pool_size=MAX_CONCURRENT_CALLS,
            )
        return self._api

    async def call(self, fn: Callable[[docker.APIClient], R]) -> R:
        async with self._limit:
            try:
                return await asyncio.to_thread(lambda: fn(self._connect()))
            except Exception as exc:
                raise translate(exc) from exc

    async def stream(self, start: Callable[[docker.APIClient], R]) -> tuple[docker.APIClient, R]:
        """start(api) on a connection of its own, which the caller closes when done with what
        start returned."""

        def open_stream() -> tuple[docker.APIClient, R]:
            api = docker.APIClient(base_url=self.base_url, version="auto")
            try:
                return api, start(api)
            except Exception:
                api.close()
                raise

        async with self._limit:
            try:
                return await asyncio.to_thread(open_stream)
            except Exception as exc:
                raise translate(exc) from exc

    async def close(self) -> None:
        if self._api is not None:
            self._api.close()
