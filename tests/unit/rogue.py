"""A rogue agent: a test client holding a real joined node's certificate that sends whatever
Session messages a test crafts, and records everything the manager sends it.

A second one that behaves is the observer: what it receives is what any other node receives
(its assignments, the ingress view, its network view), so tests see the other nodes' side too.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import grpc

from agent.join import join
from common import convert
from common.api import control_pb2 as cpb
from common.api import dispatcher_pb2 as dpb
from common.api import dispatcher_pb2_grpc
from common.api import types_pb2 as tpb
from common.ingress import IngressPort
from common.model import NodeDescription, Task
from common.netview import NetworkView
from common.ports import join_addr
from common.tls import Bundle
from tests.unit.harness import PERIOD, Harness, eventually


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
    # The status the manager ended the session with, once it did.
    ended: grpc.StatusCode | None = None
    ended_details: str = ""
    messages: int = 0
    # Heartbeats sent so far.
    beats: int = 0
    # The kind of each message received, in order.
    kinds: list[str] = field(default_factory=list)
    _outgoing: asyncio.Queue[dpb.AgentMessage | None] = field(default_factory=asyncio.Queue)
    _channel: grpc.aio.Channel | None = None
    _reader: asyncio.Task[None] | None = None
    _beats: asyncio.Task[None] | None = None

    @classmethod
    async def joined(cls, h: Harness, hostname: str) -> Rogue:
        """A node joined for real, with a token, whose agent is a test."""
        token = (await h.control.GetJoinToken(cpb.GetJoinTokenRequest())).token
        joined, bundle = await join(token, join_addr(h.addr), NodeDescription(hostname=hostname))
        return cls(joined.node_id, bundle, h.addr)

    async def open(self, description: tpb.NodeDescription) -> None:
        """Start a session with this hello; messages then arrive in the background."""
        self._outgoing = asyncio.Queue()
        self.ended = None
        self._channel = grpc.aio.secure_channel(self.manager, self.bundle.channel_credentials())
        stub = dispatcher_pb2_grpc.DispatcherStub(self._channel)
        await self._outgoing.put(dpb.AgentMessage(hello=dpb.Hello(description=description)))
        call = stub.Session(self._requests())
        self._reader = asyncio.create_task(self._read(call))
        self._beats = asyncio.create_task(self._beat())

    async def _beat(self) -> None:
        """Heartbeats, so the session outlives the test's crafted messages."""
        while True:
            await asyncio.sleep(PERIOD / 3)
            await self.send(dpb.AgentMessage(heartbeat=dpb.Heartbeat()))
            self.beats += 1

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

    async def send(self, msg: dpb.AgentMessage) -> None:
        await self._outgoing.put(msg)

    async def report(self, *updates: tuple[str, tpb.TaskStatus]) -> None:
        batch = [dpb.TaskStatusUpdate(task_id=tid, status=s) for tid, s in updates]
        await self.send(dpb.AgentMessage(status=dpb.StatusBatch(updates=batch)))

    async def wait_ended(self, within: float = 10) -> grpc.StatusCode:
        await eventually(lambda: self.ended is not None, "the session to end", within)
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
