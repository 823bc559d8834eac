"""A manager served in-process over real gRPC (mTLS) with in-memory engines, for fast tests of
the session and trust protocols. tests/integration runs the same paths as processes."""

from __future__ import annotations

import asyncio
import contextlib
import time
from asyncio import FIRST_COMPLETED
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import grpc

from agent.mesh.fake import FakeTables
from agent.mesh.sync import MeshSync
from agent.node import NodeAgent
from agent.overlay.node_networks import NodeNetworks
from agent.runtime.base import SLOT_LABEL
from agent.runtime.fake import FakeRuntime
from agent.teardown import HostCleanup
from common import convert, identity
from common.api import control_pb2 as pb
from common.api import control_pb2_grpc
from common.errors import Unavailable
from common.join_client import join
from common.model import Availability, ContainerSpec, NodeDescription, NodeState, ServiceSpec
from common.ports import join_addr
from common.tls import Bundle
from manager.local_node import local_node
from manager.server import ManagerConfig, Started, serve

PERIOD = 0.3
# Starts on port 0 tried before giving up: each can lose its join port (the one above) to a
# process binding it between the two binds.
BIND_ATTEMPTS = 5
START_WITHIN = 60


@dataclass
class Harness:
    state_dir: Path
    manager_runtime: FakeRuntime = field(default_factory=FakeRuntime)
    port: int = 0
    node_id: str = ""
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    agents: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    channel: grpc.aio.Channel | None = None
    availability: Availability | None = None
    cert_lifetime: timedelta = timedelta(days=90)
    # Serve the Docker API too, on a free loopback port (docker_api_port once started).
    docker_api: bool = False
    docker_api_port: int = 0
    heartbeat_period: float = PERIOD

    async def start(self) -> None:
        """Start the manager on self.port; on port 0 the system picks it, and the join port
        above it may turn out taken by another process: then it starts again on another."""
        for attempt in range(BIND_ATTEMPTS):
            if await self._start() or self.port or attempt == BIND_ATTEMPTS - 1:
                break
        assert self.task is not None
        if self.task.done():
            self.task.result()  # the failure, raised here
        admin = Bundle.load(self.state_dir / "admin")
        self.channel = grpc.aio.secure_channel(self.addr, admin.channel_credentials())

    async def _start(self) -> bool:
        """True once started; False when the manager could not bind its ports."""
        self.stop = asyncio.Event()
        started: asyncio.Future[Started] = asyncio.get_running_loop().create_future()
        config = ManagerConfig(
            listen=f"127.0.0.1:{self.port}",
            advertise="127.0.0.1",
            state_dir=self.state_dir,
            docker_host=None,
            heartbeat_period=self.heartbeat_period,
            hostname="mgr",
            availability=self.availability,
            cert_lifetime=self.cert_lifetime,
            docker_api_addr="127.0.0.1:0" if self.docker_api else None,
        )
        self.task = asyncio.create_task(
            serve(
                config,
                local_node(self.manager_runtime, None, routing_mesh=False, data_addr="127.0.0.1"),
                self.stop,
                started.set_result,
            )
        )
        waits: set[asyncio.Future[Any]] = {started, self.task}
        # Generous: a loaded machine (CI, helpers side by side) starts a manager slowly.
        await asyncio.wait(waits, timeout=START_WITHIN, return_when=FIRST_COMPLETED)
        if started.done():
            info = started.result()
            self.port, self.node_id = info.port, info.node_id
            self.docker_api_port = info.docker_api_port or 0
            return True
        if not self.task.done():
            raise TimeoutError(f"the manager did not start within {START_WITHIN} s")
        failure = self.task.exception()
        if not isinstance(failure, Unavailable) or "cannot listen" not in str(failure):
            self.task.result()
        return False

    async def restart(self, meanwhile: Callable[[], Awaitable[None]] | None = None) -> None:
        """Stop the manager (its agents keep running), run meanwhile (which may change its state
        dir), and start it again on its state dir."""
        self.stop.set()
        assert self.task is not None
        await self.task
        assert self.channel is not None
        await self.channel.close()
        if meanwhile is not None:
            await meanwhile()
        await self.start()

    async def halt(self) -> None:
        for task in self.agents.values():
            task.cancel()
        self.stop.set()
        if self.task is not None:
            await self.task
        if self.channel is not None:
            await self.channel.close()

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def control(self) -> control_pb2_grpc.ControlAsyncStub:
        assert self.channel is not None
        return control_pb2_grpc.ControlStub(self.channel)

    async def join(
        self,
        hostname: str,
        runtime: FakeRuntime,
        tables: FakeTables | None = None,
        host_networking: HostCleanup | None = None,
        networks: NodeNetworks | None = None,
    ) -> str:
        """tables: the node's netfilter, for a node that runs the routing mesh; host_networking:
        what removes its networks from the host, should the node be removed; networks: what
        makes the cluster networks on it, for a node that joins them."""
        token = (await self.control.GetJoinToken(pb.GetJoinTokenRequest())).token
        joined, bundle = await join(token, join_addr(self.addr), NodeDescription(hostname=hostname))
        known = identity.Identity(joined.node_id, joined.cluster_id, self.addr)
        identity.save(self.state_dir.parent / hostname, known, bundle)
        self.run_agent(joined.node_id, hostname, runtime, tables, host_networking, networks)
        return joined.node_id

    def run_agent(
        self,
        node_id: str,
        hostname: str,
        runtime: FakeRuntime,
        tables: FakeTables | None = None,
        host_networking: HostCleanup | None = None,
        networks: NodeNetworks | None = None,
    ) -> None:
        state = self.state_dir.parent / hostname
        ingress = MeshSync(node_id, tables) if tables is not None else None
        agent = NodeAgent(
            node_id,
            self.addr,
            runtime,
            hostname,
            Bundle.load(state),
            state,
            ingress,
            networks,
            host_networking=host_networking,
        )
        self.agents[node_id] = asyncio.create_task(agent.run())

    async def drop_agent(self, node_id: str) -> None:
        task = self.agents.pop(node_id)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def node_states(self) -> dict[str, NodeState]:
        nodes = (await self.control.ListNodes(pb.ListNodesRequest())).nodes
        return {n.description.hostname: NodeState(n.state) for n in nodes}

    async def create(self, name: str, replicas: int) -> None:
        spec = ServiceSpec(
            name=name, replicas=replicas, container=ContainerSpec(image="local/busybox:latest")
        )
        await self.control.CreateService(pb.CreateServiceRequest(spec=convert.spec_to_pb(spec)))


def running(runtime: FakeRuntime) -> list[str]:
    return sorted(c.spec.labels[SLOT_LABEL] for c in runtime.containers_by_id.values() if c.running)


async def wait_state(h: Harness, hostname: str, state: NodeState, within: float = 10) -> None:
    deadline = time.monotonic() + within
    seen: dict[str, NodeState] = {}
    while time.monotonic() < deadline:
        seen = await h.node_states()
        if seen.get(hostname) == state:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{hostname} never became {state.name}: {seen}")
