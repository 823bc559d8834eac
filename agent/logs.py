"""The log subscriptions the manager asks this node for on its session.

Each subscription's lines go up on a PublishLogs stream of its own, so bulk log traffic never
holds up heartbeats and status on the session. Everything here belongs to one session: when it
ends, the streams end with it, and the manager asks again on the next one.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import grpc
import structlog

from agent.runtime.base import ContainerRuntime, LogEntry
from common.errors import NotFound, ShoalError
from common.logs import LogLine, PublishedLogs, SubscribeLogs, TaskLogs

log = structlog.get_logger("agent.logs")

# One message carries up to this many lines, or about this many bytes of them.
BATCH_LINES = 500
BATCH_BYTES = 256 * 1024
# Lines waiting for the stream; past that the readers wait, and so do the containers' streams.
QUEUE_LIMIT = 1000

# Carries one subscription's batches up to the manager, until they end or the manager ends the
# stream (grpc.aio.AioRpcError); the session's edge puts them on the wire.
Publish = Callable[[AsyncIterator[PublishedLogs]], Awaitable[None]]


def _line(task_id: str, entry: LogEntry) -> LogLine:
    return LogLine(task_id, entry.timestamp_ns, entry.stderr, entry.data)


class _Upload:
    """One subscription: a reader per task, and the stream that carries their lines up."""

    def __init__(
        self,
        runtime: ContainerRuntime,
        publish: Publish,
        subscription_id: str,
        follow: bool,
    ) -> None:
        self._runtime = runtime
        self._id = subscription_id
        self._follow = follow
        self._queue: asyncio.Queue[LogLine | str] = asyncio.Queue(QUEUE_LIMIT)
        self._readers: dict[str, asyncio.Task[None]] = {}
        self._all_read = asyncio.Event()
        self._log = log.bind(subscription_id=subscription_id)
        self.sender = asyncio.create_task(self._send(publish))

    def add(self, tasks: tuple[TaskLogs, ...]) -> None:
        for task in tasks:
            if task.task_id not in self._readers:
                reader = asyncio.create_task(self._read(task))
                self._readers[task.task_id] = reader
                reader.add_done_callback(self._reader_done)
        self._reader_done(None)

    def _reader_done(self, _: asyncio.Task[None] | None) -> None:
        if not self._follow and all(r.done() for r in self._readers.values()):
            self._all_read.set()

    async def cancel(self) -> None:
        readers = [*self._readers.values(), self.sender]
        for task in readers:
            task.cancel()
        await asyncio.gather(*readers, return_exceptions=True)

    async def _read(self, task: TaskLogs) -> None:
        try:
            entries = self._runtime.logs(
                task.container_id, follow=self._follow, tail=task.tail, since_ns=task.since_ns
            )
            async for entry in entries:
                await self._queue.put(_line(task.task_id, entry))
        except NotFound:
            # Its container was removed with the task's history: nothing left to show.
            return
        except ShoalError as exc:
            await self._queue.put(f"task {task.task_id}: {exc}")
        except Exception:
            # A bug, not an engine answer: say so loudly; the agent must outlive it.
            self._log.exception("log reader crashed", task_id=task.task_id)
            await self._queue.put(f"task {task.task_id}: the agent failed to read its logs")

    async def _send(self, publish: Publish) -> None:
        try:
            await publish(self._messages())
        except grpc.aio.AioRpcError as exc:
            # The manager ended it: the client left, or the session is going away.
            self._log.debug("log stream ended", code=exc.code().name)
        finally:
            for reader in self._readers.values():
                reader.cancel()

    async def _messages(self) -> AsyncIterator[PublishedLogs]:
        # The first message says the stream is open, even when nothing was written.
        yield PublishedLogs(self._id)
        while True:
            item = await self._next()
            if item is None:
                yield PublishedLogs(self._id, close=True)
                return
            lines: list[LogLine] = []
            errors: list[str] = []
            size = self._add(lines, errors, item)
            while not self._queue.empty() and len(lines) < BATCH_LINES and size < BATCH_BYTES:
                size += self._add(lines, errors, self._queue.get_nowait())
            yield PublishedLogs(self._id, tuple(lines), tuple(errors))

    async def _next(self) -> LogLine | str | None:
        """The next line or error; None once every reader is done and all is sent (never when
        following)."""
        get = asyncio.create_task(self._queue.get())
        end = asyncio.create_task(self._all_read.wait())
        try:
            await asyncio.wait([get, end], return_when=asyncio.FIRST_COMPLETED)
        finally:
            end.cancel()
            if not get.done():
                # Cancelled before it took anything: what is queued stays queued.
                get.cancel()
        if get.done() and not get.cancelled():
            return get.result()
        return None if self._queue.empty() else self._queue.get_nowait()

    @staticmethod
    def _add(lines: list[LogLine], errors: list[str], item: LogLine | str) -> int:
        """Put item in the batch under way; its size in bytes."""
        if isinstance(item, str):
            errors.append(item)
            return len(item)
        lines.append(item)
        return len(item.data)


class LogStreams:
    """The subscriptions of one session, each sent up by publish; leaving the context ends
    them."""

    def __init__(self, runtime: ContainerRuntime, publish: Publish) -> None:
        self._runtime = runtime
        self._publish = publish
        self._uploads: dict[str, _Upload] = {}

    async def __aenter__(self) -> LogStreams:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def subscribe(self, request: SubscribeLogs) -> None:
        upload = self._uploads.get(request.subscription_id)
        if upload is None or upload.sender.done():
            upload = _Upload(self._runtime, self._publish, request.subscription_id, request.follow)
            self._uploads[request.subscription_id] = upload
            upload.sender.add_done_callback(lambda _: self._forget(request.subscription_id, upload))
        upload.add(request.tasks)

    def _forget(self, subscription_id: str, upload: _Upload) -> None:
        if self._uploads.get(subscription_id) is upload:
            del self._uploads[subscription_id]

    async def cancel(self, subscription_id: str) -> None:
        upload = self._uploads.pop(subscription_id, None)
        if upload is not None:
            await upload.cancel()

    async def close(self) -> None:
        uploads, self._uploads = list(self._uploads.values()), {}
        with contextlib.suppress(Exception):
            await asyncio.gather(*(u.cancel() for u in uploads), return_exceptions=True)
