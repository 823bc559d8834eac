"""The manager and agents over real gRPC on loopback, with in-memory engines.

Fast checks of the session protocol: joins, spreading, assignments after a reconnect, node
states. The same paths run against a real engine in tests/integration.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest

from agent.main import join_cluster
from agent.runtime.base import NODE_LABEL, SLOT_LABEL
from agent.runtime.fake import FakeRuntime
from agent.session import Agent
from common import convert
from common.api import control_pb2 as pb
from common.api import control_pb2_grpc
from common.errors import Unauthenticated
from common.model import Availability, ContainerSpec, NodeDescription, NodeState, ServiceSpec
from manager.server import ManagerConfig, Started, serve

PERIOD = 0.3


async def eventually(check: Callable[[], object], what: str, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


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

    async def start(self) -> None:
        self.stop = asyncio.Event()
        started: asyncio.Future[Started] = asyncio.get_running_loop().create_future()
        config = ManagerConfig(
            listen=f"127.0.0.1:{self.port}",
            advertise="127.0.0.1",
            state_dir=self.state_dir,
            docker_host=None,
            heartbeat_period=PERIOD,
            hostname="mgr",
            availability=self.availability,
        )
        self.task = asyncio.create_task(
            serve(config, self.manager_runtime, self.stop, started.set_result)
        )
        info = await asyncio.wait_for(started, 10)
        self.port, self.node_id = info.port, info.node_id
        self.channel = grpc.aio.insecure_channel(self.addr)

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

    async def join(self, hostname: str, runtime: FakeRuntime) -> str:
        token = (await self.control.GetJoinToken(pb.GetJoinTokenRequest())).token
        joined = await join_cluster(token, self.addr, NodeDescription(hostname=hostname))
        self.run_agent(joined.node_id, hostname, runtime)
        return joined.node_id

    def run_agent(self, node_id: str, hostname: str, runtime: FakeRuntime) -> None:
        agent = Agent(node_id, self.addr, runtime, hostname)
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


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    h = Harness(tmp_path / "manager")
    await h.start()
    try:
        yield h
    finally:
        await h.halt()


async def test_replicas_spread_over_the_manager_and_two_agents(harness: Harness) -> None:
    """6 replicas on 3 nodes: two each, every container labelled with its own node."""
    engines = {"a1": FakeRuntime(), "a2": FakeRuntime()}
    ids = {name: await harness.join(name, rt) for name, rt in engines.items()}
    for hostname in ("mgr", "a1", "a2"):
        await _wait_state(harness, hostname, NodeState.READY)
    await harness.create("web", 6)
    everyone = [harness.manager_runtime, *engines.values()]
    await eventually(lambda: sum(len(running(rt)) for rt in everyone) == 6, "6 containers")
    assert [len(running(rt)) for rt in everyone] == [2, 2, 2]
    for name, rt in engines.items():
        assert {c.spec.labels[NODE_LABEL] for c in rt.containers_by_id.values()} == {ids[name]}


async def test_drained_manager_runs_no_task(tmp_path: Path) -> None:
    """manager serve --availability drain: every replica lands on the agents."""
    h = Harness(tmp_path / "manager", availability=Availability.DRAIN)
    await h.start()
    try:
        rt = FakeRuntime()
        await h.join("a1", rt)
        await _wait_state(h, "a1", NodeState.READY)
        await _wait_state(h, "mgr", NodeState.READY)
        await h.create("web", 3)
        await eventually(lambda: len(running(rt)) == 3, "3 containers on the agent")
        assert not h.manager_runtime.containers_by_id
    finally:
        await h.halt()


async def test_wrong_secret_is_refused(harness: Harness) -> None:
    """A token with this cluster's digest but a wrong secret does not join."""
    token = (await harness.control.GetJoinToken(pb.GetJoinTokenRequest())).token
    wrong = token[:-25] + "0" * 25
    with pytest.raises(Unauthenticated, match="invalid join token"):
        await join_cluster(wrong, harness.addr, NodeDescription(hostname="x"))


async def test_node_disconnected_then_down_then_back(harness: Harness) -> None:
    """A broken session: Disconnected at once, Down after 3 periods, Ready when it returns."""
    rt = FakeRuntime()
    node_id = await harness.join("a1", rt)
    await _wait_state(harness, "a1", NodeState.READY)
    await harness.drop_agent(node_id)
    await _wait_state(harness, "a1", NodeState.DISCONNECTED, within=1)
    await _wait_state(harness, "a1", NodeState.DOWN)
    harness.run_agent(node_id, "a1", rt)
    await _wait_state(harness, "a1", NodeState.READY)


async def test_work_removed_while_away_is_cleaned_on_return(harness: Harness) -> None:
    """A service removed while an agent was away: on reconnect its containers go."""
    rt = FakeRuntime()
    node_id = await harness.join("a1", rt)
    await _wait_state(harness, "a1", NodeState.READY)
    await harness.create("web", 4)
    await eventually(lambda: len(running(rt)) == 2, "2 containers on the agent")
    await harness.drop_agent(node_id)
    await harness.control.RemoveService(pb.RemoveServiceRequest(ref="web"))
    await eventually(lambda: not harness.manager_runtime.containers_by_id, "manager's gone")
    assert len(running(rt)) == 2
    harness.run_agent(node_id, "a1", rt)
    await eventually(lambda: not rt.containers_by_id, "the returning agent's containers gone")
    tasks = (await harness.control.ListTasks(pb.ListTasksRequest())).tasks
    assert list(tasks) == []


async def test_manager_restart_keeps_nodes_and_agents_reconnect(harness: Harness) -> None:
    """After a manager restart on the same state dir the agents come back and nothing reruns."""
    rt = FakeRuntime()
    await harness.join("a1", rt)
    await _wait_state(harness, "a1", NodeState.READY)
    await harness.create("web", 2)
    await eventually(lambda: len(running(rt)) == 1, "1 container on the agent")
    before = set(rt.containers_by_id)
    harness.stop.set()
    assert harness.task is not None
    await harness.task
    assert harness.channel is not None
    await harness.channel.close()
    await harness.start()
    await _wait_state(harness, "a1", NodeState.READY)
    await _wait_state(harness, "mgr", NodeState.READY)
    assert set(rt.containers_by_id) == before
    assert not [c for c in rt.calls if c.startswith(("stop", "remove"))]


async def _wait_state(h: Harness, hostname: str, state: NodeState, within: float = 10) -> None:
    deadline = time.monotonic() + within
    seen: dict[str, NodeState] = {}
    while time.monotonic() < deadline:
        seen = await h.node_states()
        if seen.get(hostname) == state:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{hostname} never became {state.name}: {seen}")
