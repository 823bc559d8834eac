"""A placed task on a network starts without its agent waiting for the node's slice: the slice
is allocated in the transaction that assigns the task, so the view giving it reaches the node
with the assignment, far within ATTACH_TIMEOUT (cut to 1 s here)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from agent.dns.server import NameService
from agent.engine_client import EngineClient
from agent.overlay import names, node_networks
from agent.overlay.engine import EngineNetworks
from agent.overlay.node_networks import Attachments, NodeNetworks
from agent.runtime.fake import FakeRuntime
from common import convert
from common.api import control_pb2 as pb
from common.errors import Unavailable
from common.model import Availability, ContainerSpec, NodeState, ServiceSpec, TaskState
from common.netview import NetworkView
from tests.unit.harness import Harness, wait_state
from tests.waiting import eventually


class HostlessNetworks(NodeNetworks):
    """A node's networks with nothing made on the host (that needs root): a network is in place
    as soon as a view gives this node its slice, and a task waits for that as the real one does,
    up to ATTACH_TIMEOUT."""

    def __init__(self) -> None:
        super().__init__(
            EngineNetworks(EngineClient(None), "c1"), "127.0.0.1", NameService(upstreams=[])
        )
        self.sliced: set[str] = set()
        self._changed = asyncio.Event()

    def apply(self, view: NetworkView) -> None:
        super().apply(view)
        self.sliced = {n.id for n in view.networks}
        self._changed.set()
        self._changed = asyncio.Event()

    async def run(self) -> None:
        await asyncio.Event().wait()

    async def attach(self, network_ids: tuple[str, ...]) -> Attachments:
        try:
            async with asyncio.timeout(node_networks.ATTACH_TIMEOUT):
                while not self.sliced.issuperset(network_ids):
                    await self._changed.wait()
        except TimeoutError:
            raise Unavailable(f"network {network_ids} not available on this node") from None
        return Attachments(engine_networks=tuple(names.engine_network(n) for n in network_ids))


async def test_a_task_on_a_network_runs_with_its_slice_already_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A slice given only once the task was placed would leave it waiting, then rejected.
    monkeypatch.setattr(node_networks, "ATTACH_TIMEOUT", 1.0)
    # The manager's own node drains, so the task goes to the node that joins networks.
    h = Harness(tmp_path / "manager", availability=Availability.DRAIN)
    await h.start()
    try:
        networks = HostlessNetworks()
        await h.join("worker", FakeRuntime(), networks=networks)
        await wait_state(h, "worker", NodeState.READY)
        network = (await h.control.CreateNetwork(pb.CreateNetworkRequest(name="front"))).network
        spec = ServiceSpec(
            name="web", container=ContainerSpec(image="local/busybox:latest"), networks=("front",)
        )
        await h.control.CreateService(pb.CreateServiceRequest(spec=convert.spec_to_pb(spec)))

        async def running() -> bool:
            tasks = (await h.control.ListTasks(pb.ListTasksRequest(service_ref="web"))).tasks
            return any(TaskState(t.status.state) is TaskState.RUNNING for t in tasks)

        await eventually(running, "the task on network front running", within=5)
        assert network.id in networks.sliced
    finally:
        await h.halt()
