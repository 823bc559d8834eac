"""A rogue agent: a test client holding a real joined node's certificate that sends whatever
Session messages a test crafts, and records everything the manager sends it.

A second one that behaves is the observer: what it receives is what any other node receives
(its assignments, the ingress view, its network view), so tests see the other nodes' side too.

Used in-process by the unit tests (against tests/unit/harness.py) and, as tests/rogue_node.py,
inside a lab host by the e2e tests.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from common import convert
from common.api import control_pb2 as cpb
from common.api import control_pb2_grpc, dispatcher_pb2_grpc
from common.api import dispatcher_pb2 as dpb
from common.api import types_pb2 as tpb
from common.join_client import join
from common.mesh_view import IngressPort
from common.model import FileData, ManagerList, NodeDescription, Task
from common.netview import NetworkView
from common.ports import join_addr
from common.tls import Bundle


class Cluster(Protocol):
    """A manager the test administers (tests/unit/harness.py's Harness)."""

    @property
    def control(self) -> control_pb2_grpc.ControlAsyncStub: ...

    @property
    def addr(self) -> str: ...


@dataclass
class Rogue:
    node_id: str
    bundle: Bundle
    manager: str
    tasks: dict[str, Task] = field(default_factory=dict)
    # The IDs of the tasks assigned; with decode False, all that is kept of them (decoding tens
    # of thousands would hold up the manager, which shares the test's event loop).
    task_ids: set[str] = field(default_factory=set)
    decode: bool = True
    ingress: dict[str, IngressPort] = field(default_factory=dict)
    network_view: NetworkView | None = None
    # The managers' addresses, as last told.
    managers: ManagerList | None = None
    # The status the manager ended the session with, once it did.
    ended: grpc.StatusCode | None = None
    ended_details: str = ""
    messages: int = 0
    # Heartbeats sent so far.
    beats: int = 0
    # The kind of each message received, in order.
    kinds: list[str] = field(default_factory=list)
    # Every secret and config data the manager sent, in order.
    files: list[FileData] = field(default_factory=list)
    # Seconds between heartbeats: well within any test manager's period.
    beat_every: float = 0.1
    # The heartbeat period of each settings message received, in ms.
    periods: list[int] = field(default_factory=list)
    # The reconnect window of each settings message received, in ms.
    windows: list[int] = field(default_factory=list)
    _outgoing: asyncio.Queue[dpb.AgentMessage | None] = field(default_factory=asyncio.Queue)
    _channel: grpc.aio.Channel | None = None
    _reader: asyncio.Task[None] | None = None
    _beats: asyncio.Task[None] | None = None

    @classmethod
    async def joined(cls, cluster: Cluster, hostname: str) -> Rogue:
        """A node joined for real, with a token, whose agent is a test."""
        token = (await cluster.control.GetJoinToken(cpb.GetJoinTokenRequest())).token
        return await cls.join(token, cluster.addr, hostname)

    @classmethod
    async def join(cls, token: str, manager: str, hostname: str) -> Rogue:
        joined, bundle = await join(token, join_addr(manager), NodeDescription(hostname=hostname))
        return cls(joined.node_id, bundle, manager)

    async def open(self, description: tpb.NodeDescription, hello_after: float = 0.0) -> None:
        """Start a session with this hello, sent hello_after seconds into it; messages then
        arrive in the background."""
        self._outgoing = asyncio.Queue()
        self.ended = None
        self._channel = grpc.aio.secure_channel(self.manager, self.bundle.channel_credentials())
        stub = dispatcher_pb2_grpc.DispatcherStub(self._channel)
        hello = dpb.AgentMessage(hello=dpb.Hello(description=description))
        if not hello_after:
            # Queued now: a test may silence the node at once, and it has still said hello.
            await self.send(hello)
        call = stub.Session(self._requests())
        self._reader = asyncio.create_task(self._read(call))
        self._beats = asyncio.create_task(self._hello_then_beat(hello, hello_after))

    async def _hello_then_beat(self, hello: dpb.AgentMessage, after: float) -> None:
        if after:
            await asyncio.sleep(after)
            await self.send(hello)
        await self._beat()

    async def _beat(self) -> None:
        """Heartbeats, so the session outlives the test's crafted messages."""
        while True:
            await asyncio.sleep(self.beat_every)
            await self.send(dpb.AgentMessage(heartbeat=dpb.Heartbeat()))
            self.beats += 1

    def fall_silent(self) -> None:
        """No more heartbeats; the session stays open."""
        if self._beats is not None:
            self._beats.cancel()

    def beat_again(self) -> None:
        """Heartbeats again, after fall_silent."""
        self._beats = asyncio.create_task(self._beat())

    async def _requests(self) -> AsyncIterator[dpb.AgentMessage]:
        while (msg := await self._outgoing.get()) is not None:
            yield msg

    async def _read(
        self, call: grpc.aio.StreamStreamCall[dpb.AgentMessage, dpb.ManagerMessage]
    ) -> None:
        try:
            async for msg in call:
                self.messages += 1
                self.kinds.append(str(msg.WhichOneof("kind")))
                self._take(msg)
        except grpc.aio.AioRpcError as exc:
            self.ended, self.ended_details = exc.code(), str(exc.details())
            return
        self.ended = grpc.StatusCode.OK

    def _take(self, msg: dpb.ManagerMessage) -> None:
        kind = msg.WhichOneof("kind")
        if kind == "assignments":
            if msg.assignments.full:
                self.tasks = {}
                self.task_ids = set()
            for task in msg.assignments.tasks:
                self.task_ids.add(task.id)
                if self.decode:
                    self.tasks[task.id] = convert.task_from_pb(task)
            self.files += [convert.file_data_from_pb(f) for f in msg.assignments.files]
            for task_id in msg.assignments.removed:
                self.task_ids.discard(task_id)
                self.tasks.pop(task_id, None)
        elif kind == "ingress":
            if msg.ingress.full:
                self.ingress = {}
            for port in msg.ingress.ports:
                converted = convert.ingress_port_from_pb(port)
                self.ingress[converted.key] = converted
            for key in msg.ingress.removed:
                self.ingress.pop(key, None)
        elif kind == "network_view":
            self.network_view = convert.network_view_from_pb(msg.network_view)
        elif kind == "managers":
            self.managers = convert.manager_list_from_pb(msg.managers)
        elif kind == "settings":
            self.periods.append(msg.settings.heartbeat_period_ms)
            self.windows.append(msg.settings.reconnect_within_ms)

    async def send(self, msg: dpb.AgentMessage) -> None:
        await self._outgoing.put(msg)

    async def report(self, *updates: tuple[str, tpb.TaskStatus]) -> None:
        batch = [dpb.TaskStatusUpdate(task_id=tid, status=s) for tid, s in updates]
        await self.send(dpb.AgentMessage(status=dpb.StatusBatch(updates=batch)))

    async def wait_ended(self, within: float = 10) -> grpc.StatusCode:
        assert self._reader is not None
        await asyncio.wait_for(asyncio.shield(self._reader), within)
        assert self.ended is not None
        return self.ended

    async def close(self) -> None:
        await self._outgoing.put(None)
        for task in (self._beats, self._reader):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._channel is not None:
            await self._channel.close()


def description(hostname: str, **fields: object) -> tpb.NodeDescription:
    return tpb.NodeDescription(hostname=hostname, **fields)  # type: ignore[arg-type]


def status(
    state: tpb.TaskState.ValueType = tpb.TASK_STATE_RUNNING,
    *,
    container: str = "c1",
    addresses: dict[str, str] | None = None,
    ports: list[tpb.PortBinding] | None = None,
    at: datetime | None = None,
    err: str = "",
    message: str = "started",
) -> tpb.TaskStatus:
    """A task report as a rogue crafts it: any field, any value the wire allows."""
    stamp = Timestamp()
    if at is not None:
        stamp.FromDatetime(at)
    return tpb.TaskStatus(
        state=state,
        timestamp=stamp,
        message=message,
        err=err,
        container_id=container,
        ports=ports or [],
        addresses=[
            tpb.NetworkAddress(network_id=n, address=a) for n, a in (addresses or {}).items()
        ],
    )


def binding(host_port: int, container_ip: str = "172.17.0.2") -> tpb.PortBinding:
    return tpb.PortBinding(target=80, host_port=host_port, container_ip=container_ip)
