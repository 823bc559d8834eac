"""Small in-process dispatchers over real mTLS, for the agent's side of several managers: one
that leads (serves sessions and sends the manager list), one that follows (refuses sessions,
naming the leader in the trailing metadata), and either may be stopped to play a dead manager."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import grpc

from common import pki
from common.api import dispatcher_pb2 as dpb
from common.tls import Bundle
from manager.ca import ClusterCA

CLUSTER = "c1"
LIFETIME = timedelta(days=1)


@dataclass
class Behaviour:
    """leader: serve sessions; else refuse them, naming leader_addr when set."""

    leader: bool
    leader_addr: str = ""
    managers: list[str] = field(default_factory=list)
    # End the session saying the node was promoted, as a manager does once it is.
    promote: bool = False
    # The window the settings give for coming back after a lost session.
    reconnect_within_ms: int = 0
    # How many sessions end right after their settings, before any assignment set, as when a
    # connection breaks while the manager opens the session.
    cut_after_settings: int = 0


class FakeDispatcher:
    """Serves the session call only: the agents here never renew or leave."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.attempts = 0
        # When each session was opened (monotonic).
        self.opened: list[float] = []
        self.live = asyncio.Event()
        # Set by end_sessions: the sessions held now end, as when the manager closes them.
        self._end = asyncio.Event()

    @property
    def sessions(self) -> int:
        return len(self.opened)

    async def Session(
        self, request_iterator: AsyncIterator[dpb.AgentMessage], context: Any
    ) -> AsyncIterator[dpb.ManagerMessage]:
        self.attempts += 1
        if not self.behaviour.leader:
            metadata = (
                (("shoal-leader", self.behaviour.leader_addr),)
                if self.behaviour.leader_addr
                else ()
            )
            await context.abort(grpc.StatusCode.UNAVAILABLE, "not the leader", metadata)
            return
        await request_iterator.__anext__()  # the hello
        self.opened.append(time.monotonic())
        settings = dpb.Settings(
            heartbeat_period_ms=200, reconnect_within_ms=self.behaviour.reconnect_within_ms
        )
        yield dpb.ManagerMessage(settings=settings)
        if self.behaviour.cut_after_settings > 0:
            self.behaviour.cut_after_settings -= 1
            await context.abort(grpc.StatusCode.UNAVAILABLE, "connection lost")
            return
        yield dpb.ManagerMessage(assignments=dpb.Assignments(full=True))
        yield dpb.ManagerMessage(managers=dpb.ManagerList(addrs=self.behaviour.managers))
        if self.behaviour.promote:
            yield dpb.ManagerMessage(promoted=dpb.Promoted())
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, "promoted")
            return
        self.live.set()
        reading = asyncio.create_task(_drain(request_iterator))
        ending = asyncio.create_task(self._end.wait())
        try:
            await asyncio.wait([reading, ending], return_when=asyncio.FIRST_COMPLETED)
        finally:
            reading.cancel()
            ending.cancel()
            self.live.clear()

    def end_sessions(self) -> None:
        """End the sessions held now; later ones are held as before."""
        self._end.set()
        self._end = asyncio.Event()


async def _drain(messages: AsyncIterator[dpb.AgentMessage]) -> None:
    async for _ in messages:
        pass


@dataclass
class Fleet:
    """Fake managers sharing one CA, and an agent bundle that trusts it."""

    directory: Path
    ca: ClusterCA = field(init=False)
    servers: dict[str, grpc.aio.Server] = field(default_factory=dict)
    dispatchers: dict[str, FakeDispatcher] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.ca = ClusterCA.load_or_create(self.directory / "ca", CLUSTER)

    def agent_bundle(self, node_id: str) -> Bundle:
        return self.ca.issue_with_key(node_id, pki.ROLE_WORKER, CLUSTER, LIFETIME).bundle(self.ca)

    async def start(self, behaviour: Behaviour, port: int = 0) -> str:
        """A dispatcher on loopback (a free port unless given); returns its HOST:PORT."""
        issued = self.ca.issue_with_key("m", pki.ROLE_MANAGER, CLUSTER, LIFETIME, ["127.0.0.1"])
        bundle = issued.bundle(self.ca)
        credentials = grpc.ssl_server_credentials(
            [(bundle.key_pem, bundle.cert_pem)],
            root_certificates=bundle.ca_pem,
            require_client_auth=True,
        )
        server = grpc.aio.server()
        dispatcher = FakeDispatcher(behaviour)
        session = grpc.stream_stream_rpc_method_handler(
            dispatcher.Session,
            request_deserializer=dpb.AgentMessage.FromString,
            response_serializer=dpb.ManagerMessage.SerializeToString,
        )
        server.add_generic_rpc_handlers(
            [grpc.method_handlers_generic_handler("shoal.v1.Dispatcher", {"Session": session})]
        )
        addr = f"127.0.0.1:{server.add_secure_port(f'127.0.0.1:{port}', credentials)}"
        await server.start()
        self.servers[addr] = server
        self.dispatchers[addr] = dispatcher
        return addr

    async def kill(self, addr: str) -> None:
        await self.servers.pop(addr).stop(grace=None)

    async def close(self) -> None:
        for server in self.servers.values():
            await server.stop(grace=None)
