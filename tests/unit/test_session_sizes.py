"""Sessions of any size: assignments go down in chunks well under the message limit."""

from __future__ import annotations

from dataclasses import replace

from common import convert
from common.api import control_pb2 as cpb
from common.message_limits import CHUNK_BYTES
from common.model import ContainerSpec, Placement, ServiceSpec, TaskState
from manager.dispatcher.chunks import assignments
from tests.unit.builders import task
from tests.unit.harness import Harness
from tests.unit.rogue import Rogue, description
from tests.waiting import eventually


async def test_a_node_with_100_tasks_of_60_kb_env_keeps_its_session(harness: Harness) -> None:
    """6 MB of assignments, past gRPC's 4 MiB default: they reach the node, both as changes
    and as the full set of a new session."""
    node = await Rogue.joined(harness, "big")
    await node.open(description("big"))
    env = ("BLOB=" + "x" * 60_000,)
    spec = ServiceSpec(
        name="fat",
        replicas=100,
        container=ContainerSpec(image="local/busybox:latest", env=env),
        placement=Placement(constraints=("node.hostname==big",)),
    )
    await harness.control.CreateService(cpb.CreateServiceRequest(spec=convert.spec_to_pb(spec)))
    try:
        await eventually(lambda: len(node.tasks) == 100, "100 assignments", 30)
        assert node.ended is None
        await node.close()
        await node.open(description("big"))
        await eventually(lambda: len(node.tasks) == 100, "the full set again", 30)
        assert node.ended is None
        assert all(t.spec.env == env for t in node.tasks.values())
    finally:
        await node.close()


def test_30000_tasks_go_in_chunks_under_the_limit() -> None:
    """A full set of 30,000 tasks: the first chunk says full, all but the last say more."""
    tasks = [task(f"t{i:05d}", i, node_id="n1", state=TaskState.ASSIGNED) for i in range(30_000)]
    messages = list(assignments(tasks, ["gone"], full=True))
    assert len(messages) > 1
    assert all(m.ByteSize() <= CHUNK_BYTES for m in messages)
    assert [m.full for m in messages] == [True] + [False] * (len(messages) - 1)
    assert [m.more for m in messages] == [True] * (len(messages) - 1) + [False]
    assert list(messages[-1].removed) == ["gone"]
    assert sum(len(m.tasks) for m in messages) == 30_000


def test_finished_tasks_go_without_what_runs_them() -> None:
    """History (5 tasks a slot) is sent lean: the agent only keeps or removes its container."""
    done = task("t1", node_id="n1", state=TaskState.FAILED)
    fat = replace(done, spec=ContainerSpec(image="i", env=("A=" + "x" * 1000,)))
    (message,) = assignments([fat], full=False)
    assert list(message.tasks[0].spec.env) == []
    assert message.tasks[0].spec.image == "i"
