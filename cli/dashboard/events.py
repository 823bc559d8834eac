"""What feeds the pages' Server-Sent Events: the Control API's streams, which the client reads
with blocking calls, each pumped on a thread of its own into the event loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from cli.answers import ClusterEvent
from common.errors import ShoalError

T = TypeVar("T")


@dataclass(frozen=True)
class _End:
    error: ShoalError | None


async def pumped(produce: Callable[[], Iterator[T]]) -> AsyncIterator[T]:
    """produce()'s items, read on a thread. A stream abandoned by its reader is dropped at its
    next item: a blocking gRPC iterator cannot be interrupted from another thread."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[T | _End] = asyncio.Queue()
    abandoned = threading.Event()

    def pump() -> None:
        end = _End(None)
        try:
            for item in produce():
                if abandoned.is_set():
                    return
                loop.call_soon_threadsafe(queue.put_nowait, item)
        except ShoalError as exc:
            end = _End(exc)
        if not abandoned.is_set() and not loop.is_closed():
            loop.call_soon_threadsafe(queue.put_nowait, end)

    threading.Thread(target=pump, name="dashboard-stream", daemon=True).start()
    try:
        while True:
            item = await queue.get()
            if isinstance(item, _End):
                if item.error is not None:
                    raise item.error
                return
            yield item
    finally:
        abandoned.set()


class Broadcast(Generic[T]):
    """One upstream stream shared by every page open: each subscriber gets what comes after it
    subscribed."""

    def __init__(self) -> None:
        self._queues: set[asyncio.Queue[T]] = set()

    def publish(self, item: T) -> None:
        for queue in self._queues:
            queue.put_nowait(item)

    async def subscribe(self, first: T) -> AsyncGenerator[T, None]:
        """first: given to this subscriber alone once it is subscribed, so that it knows it
        misses nothing published after it."""
        queue: asyncio.Queue[T] = asyncio.Queue()
        self._queues.add(queue)
        try:
            yield first
            while True:
                yield await queue.get()
        finally:
            self._queues.discard(queue)


def describe(event: ClusterEvent) -> str:
    """A line as `shoal events` prints it, without the time (the page adds the local one)."""
    attrs = ", ".join(f"{k}={v}" for k, v in event.attributes)
    return f"{event.type} {event.action} {event.id}" + (f" ({attrs})" if attrs else "")
