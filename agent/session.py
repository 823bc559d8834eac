"""The agent's side of the session: connect, hello, heartbeats and status up, assignments down.

The session is retried forever with backoff; the containers keep running while the manager is
away, and reports made meanwhile are sent once a session is back.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import grpc
import structlog

from agent.backoff import Backoff
from agent.runtime.base import ContainerRuntime
from agent.worker import Worker
from common import convert
from common.api import dispatcher_pb2 as pb
from common.api import dispatcher_pb2_grpc
from common.errors import ShoalError
from common.grpc_errors import from_rpc_error
from common.model import NodeDescription, Resources, TaskStatus

log = structlog.get_logger("agent")

# Fatal answers: retrying cannot help, the node must join again.
_FATAL = {
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.UNAUTHENTICATED,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.INVALID_ARGUMENT,
}
# Keepalive pings find a dead connection (a cut cable) that would otherwise look idle.
CHANNEL_OPTIONS = [
    ("grpc.keepalive_time_ms", 2000),
    ("grpc.keepalive_timeout_ms", 2000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 2000),
]


class Agent:
    def __init__(
        self, node_id: str, manager: str, runtime: ContainerRuntime, hostname: str
    ) -> None:
        self.node_id = node_id
        self.manager = manager
        self._runtime = runtime
        self._hostname = hostname
        self._period = 1.0
        self._pending: dict[str, TaskStatus] = {}
        self._pending_ready = asyncio.Event()
        self.worker = Worker(node_id, runtime, self._queue_report)
        self.connected = asyncio.Event()
        self._log = log.bind(node_id=node_id)

    def _queue_report(self, task_id: str, status: TaskStatus) -> None:
        self._pending[task_id] = status
        self._pending_ready.set()

    async def run(self) -> None:
        """Run until cancelled; raises ShoalError when the manager refuses this node for good."""
        await self._load_engine()
        async with asyncio.TaskGroup() as group:
            group.create_task(self._follow_engine())
            await self._hold_sessions()

    async def _load_engine(self) -> None:
        backoff = Backoff(0.1, 2.0)
        while True:
            try:
                await self.worker.load()
                return
            except ShoalError as exc:
                self._log.warning("engine not answering", error=str(exc))
                await asyncio.sleep(backoff.next_delay())

    async def _describe(self) -> NodeDescription:
        info = await self._runtime.info()
        return NodeDescription(
            hostname=self._hostname,
            engine_version=info.version,
            resources=Resources(nano_cpus=info.nano_cpus, memory_bytes=info.memory_bytes),
            os=info.os,
            arch=info.arch,
        )

    async def _follow_engine(self) -> None:
        backoff = Backoff(0.1, 2.0)
        resync = False
        while True:
            # Events since a second before the listing are replayed, so none falls in between.
            since = int(time.time()) - 1
            try:
                if resync:
                    await self.worker.resync()
                async for event in self._runtime.events(self.node_id, since):
                    backoff.reset()
                    await self.worker.container_changed(
                        event.container_id, event.task_id, event.action
                    )
            except ShoalError as exc:
                self._log.warning("engine event stream lost", error=str(exc))
            resync = True
            await asyncio.sleep(backoff.next_delay())

    async def _hold_sessions(self) -> None:
        backoff = Backoff(0.1, 2.0)
        while True:
            try:
                await self._session(backoff)
                self._log.warning("session ended by the manager")
            except grpc.aio.AioRpcError as exc:
                if exc.code() in _FATAL:
                    raise from_rpc_error(exc) from None
                self._log.warning(
                    "manager unreachable", code=exc.code().name, details=exc.details()
                )
            self.connected.clear()
            await asyncio.sleep(backoff.next_delay())

    async def _session(self, backoff: Backoff) -> None:
        description = await self._describe()
        async with grpc.aio.insecure_channel(self.manager, options=CHANNEL_OPTIONS) as channel:
            stub = dispatcher_pb2_grpc.DispatcherStub(channel)
            call = stub.Session(self._outgoing(description))
            async for msg in call:
                kind = msg.WhichOneof("kind")
                if kind == "settings":
                    self._period = max(0.05, msg.settings.heartbeat_period_ms / 1000)
                    backoff.reset()
                elif kind == "assignments":
                    a = msg.assignments
                    tasks = [convert.task_from_pb(t) for t in a.tasks]
                    self.worker.assign(tasks, a.removed, full=a.full)
                    if a.full:
                        self._log.info("session established", tasks=len(tasks))
                        self.connected.set()

    async def _outgoing(self, description: NodeDescription) -> AsyncIterator[pb.AgentMessage]:
        hello = pb.Hello(node_id=self.node_id, description=convert.description_to_pb(description))
        yield pb.AgentMessage(hello=hello)
        while True:
            try:
                await asyncio.wait_for(self._pending_ready.wait(), self._period)
            except TimeoutError:
                yield pb.AgentMessage(heartbeat=pb.Heartbeat())
                continue
            self._pending_ready.clear()
            batch, self._pending = self._pending, {}
            updates = [
                pb.TaskStatusUpdate(task_id=tid, status=convert.status_to_pb(s))
                for tid, s in batch.items()
            ]
            yield pb.AgentMessage(status=pb.StatusBatch(updates=updates))
