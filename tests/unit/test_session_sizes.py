"""Sessions of any size: assignments go down in chunks well under the message limit."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from common import convert
from common.api import control_pb2 as cpb
from common.message_limits import CHUNK_BYTES
from common.model import (
    ContainerSpec,
    Meta,
    NodeState,
    Placement,
    ServiceSpec,
    Task,
    TaskState,
)
from manager.dispatcher.chunks import CHUNK_TASKS, assignments
from manager.dispatcher.liveness import MISSED_BEATS
from manager.server import STATE_FILE
from manager.store import Put
from manager.store.sqlite import SqliteStore
from tests.rogue import Rogue, description
from tests.unit.builders import service, task
from tests.unit.harness import Harness
from tests.waiting import eventually

# The 30,000-task session shares the event loop with its manager: on a loaded machine, loading
# and sending the set holds the loop for seconds, past a 0.3 s period's grace after the restart
# and its wait for a heartbeat. This period leaves room and still sees a session that stops.
PATIENT_PERIOD = 1.0


@pytest.fixture
async def patient_harness(tmp_path: Path) -> AsyncIterator[Harness]:
    h = Harness(tmp_path / "manager", heartbeat_period=PATIENT_PERIOD)
    await h.start()
    try:
        yield h
    finally:
        await h.halt()


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


async def test_a_node_with_30000_assigned_tasks_keeps_its_session(
    patient_harness: Harness,
) -> None:
    """30,000 tasks assigned to one node (written to the store while the manager was down, as
    if placed over time): the session sends the full set in chunks, the node gets all of them,
    and its session stays up."""
    node = await Rogue.joined(patient_harness, "huge")
    node.decode = False
    wanted = 30_000

    async def assign() -> None:
        store = await SqliteStore.open(patient_harness.state_dir / STATE_FILE)
        try:
            many = replace(service(wanted, service_id="many", name="many"), meta=Meta())
            tasks = [
                task(
                    f"many{slot:05d}",
                    slot,
                    service_id="many",
                    service_name="many",
                    node_id=node.node_id,
                    state=TaskState.ASSIGNED,
                    version=0,
                )
                for slot in range(1, wanted + 1)
            ]
            await store.transact(lambda _: [Put(many), *(Put(t) for t in tasks)])
        finally:
            await store.close()

    await patient_harness.restart(assign)
    started = time.monotonic()
    await node.open(description("huge"))
    try:
        await eventually(lambda: len(node.task_ids) == wanted, f"{wanted} assignments", 30)
        took = time.monotonic() - started
        # Many messages, none near the limit: the set is 6 MB, past gRPC's 4 MiB default.
        assert node.kinds.count("assignments") >= wanted // CHUNK_TASKS
        # Beats for longer than the manager waits for one: a session held up by the set ends.
        beats, needed = node.beats, round(MISSED_BEATS * PATIENT_PERIOD / node.beat_every) + 5
        await eventually(lambda: node.beats >= beats + needed, "more heartbeats", 60)
        assert node.ended is None
        assert (await patient_harness.node_states())["huge"] == NodeState.READY
        print(f"\n{wanted} assignments received in {took:.2f} s")
    finally:
        await node.close()


def test_30000_tasks_go_in_chunks_under_the_limit() -> None:
    """A full set of 30,000 tasks: the first chunk says full, all but the last say more."""
    tasks = [task(f"t{i:05d}", i, node_id="n1", state=TaskState.ASSIGNED) for i in range(30_000)]
    messages = list(assignments(tasks, ["gone"], full=True))
    assert len(messages) > 1
    assert all(m.ByteSize() <= CHUNK_BYTES for m in messages)
    assert all(len(m.tasks) <= CHUNK_TASKS for m in messages)
    assert [m.full for m in messages] == [True] + [False] * (len(messages) - 1)
    assert [m.more for m in messages] == [True] * (len(messages) - 1) + [False]
    assert list(messages[-1].removed) == ["gone"]
    assert sum(len(m.tasks) for m in messages) == 30_000


def test_each_message_is_made_when_it_is_due() -> None:
    """The first message goes before the rest of a big set is converted: the session sends it
    between conversions instead of holding the event loop for the whole set."""
    taken = 0

    def tasks() -> Iterator[Task]:
        nonlocal taken
        for i in range(30_000):
            taken += 1
            yield task(f"t{i:05d}", i, node_id="n1", state=TaskState.ASSIGNED)

    first = next(assignments(tasks(), full=True))
    assert first.full
    assert first.more
    assert taken <= len(first.tasks) + 1


def test_finished_tasks_go_without_what_runs_them() -> None:
    """History (5 tasks a slot) is sent lean: the agent only keeps or removes its container."""
    done = task("t1", node_id="n1", state=TaskState.FAILED)
    fat = replace(done, spec=ContainerSpec(image="i", env=("A=" + "x" * 1000,)))
    (message,) = assignments([fat], full=False)
    assert list(message.tasks[0].spec.env) == []
    assert message.tasks[0].spec.image == "i"
