"""The fake runtime keeps the real one's contract: the same cases run against DockerRuntime on
the real engine and against FakeRuntime, so the fake that the unit tests and the scale
benchmarks stand on cannot drift from what it stands in for."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator

import docker
import pytest

from agent.engine_client import EngineClient
from agent.runtime.base import (
    NODE_LABEL,
    TASK_LABEL,
    ContainerEvent,
    ContainerRuntime,
    EngineDown,
    RunSpec,
)
from agent.runtime.docker import DockerRuntime
from agent.runtime.fake import FakeRuntime
from common.errors import NotFound, ShoalError
from common.ids import new_id
from common.model import PortConfig
from tests.waiting import SLEEPER, eventually

IMAGE = "local/busybox:latest"


@pytest.fixture(params=["fake", "docker"])
async def runtime(
    request: pytest.FixtureRequest, engine: docker.APIClient
) -> AsyncIterator[ContainerRuntime]:
    """Either runtime; every container made here is removed after."""
    if request.param == "fake":
        yield FakeRuntime()
        return
    client = EngineClient(os.environ.get("DOCKER_HOST"))
    real = DockerRuntime(client)
    try:
        yield real
    finally:
        for node in NODES:
            for container in await real.containers(node):
                with contextlib.suppress(ShoalError):
                    await real.remove(container.id)
        await client.close()


NODES: list[str] = []


def spec(task: str, *ports: PortConfig) -> tuple[str, RunSpec]:
    node = f"contract-{new_id()[:10]}"
    NODES.append(node)
    labels = {NODE_LABEL: node, TASK_LABEL: task}
    return node, RunSpec(
        name=f"contract-{task}-{node}", image=IMAGE, args=tuple(SLEEPER), labels=labels, ports=ports
    )


async def test_a_run_container_is_listed_and_inspected_as_its_tasks(
    runtime: ContainerRuntime,
) -> None:
    node, run = spec("t1")
    started = await runtime.run(run)
    assert (started.task_id, started.running) == ("t1", True)
    assert [(c.id, c.task_id, c.running) for c in await runtime.containers(node)] == [
        (started.id, "t1", True)
    ]
    inspected = await runtime.inspect(started.id)
    assert inspected is not None
    assert (inspected.id, inspected.running) == (started.id, True)
    assert await runtime.containers(f"{node}-other") == []


async def test_stop_then_remove(runtime: ContainerRuntime) -> None:
    """Stopped: still there, not running, no ports; removed: gone, and removing again is no
    error; stopping what is gone is NotFound."""
    node, run = spec("t2", PortConfig(80))
    started = await runtime.run(run)
    await runtime.stop(started.id, 1)
    stopped = await runtime.inspect(started.id)
    assert stopped is not None
    assert (stopped.running, stopped.ports) == (False, ())
    await runtime.remove(started.id)
    assert await runtime.inspect(started.id) is None
    assert await runtime.containers(node) == []
    await runtime.remove(started.id)
    with pytest.raises(NotFound):
        await runtime.stop(started.id, 1)


async def test_an_engine_picked_port_is_reported(runtime: ContainerRuntime) -> None:
    _, run = spec("t3", PortConfig(80))
    started = await runtime.run(run)
    [binding] = started.ports
    assert binding.target == 80
    assert binding.host_port > 0
    assert binding.container_ip


async def test_an_image_the_engine_lacks_and_cannot_get(runtime: ContainerRuntime) -> None:
    """run() without it is NotFound; ensure_image() fails with an answer, not as an engine
    that is down (a closed loopback registry: nothing leaves the host)."""
    _, run = spec("t4")
    missing = "127.0.0.1:1/nothing/here:1"
    with pytest.raises(NotFound):
        await runtime.run(RunSpec(name=run.name, image=missing, labels=run.labels))
    with pytest.raises(ShoalError) as failed:
        await runtime.ensure_image(missing)
    assert not isinstance(failed.value, EngineDown)
    await runtime.ensure_image(IMAGE)


async def test_events_follow_a_containers_life(runtime: ContainerRuntime) -> None:
    """start and die of the node's container, each naming its task."""
    node, run = spec("t5")
    seen: list[ContainerEvent] = []
    follower = asyncio.create_task(_follow_from_now(runtime, node, seen))
    try:
        # The follower subscribes before the container starts (the fake replays nothing).
        await asyncio.sleep(0)
        started = await runtime.run(run)
        await eventually(lambda: ("start", started.id) in _actions(seen), "the start event")
        await runtime.stop(started.id, 1)
        await eventually(lambda: ("die", started.id) in _actions(seen), "the die event")
        assert {e.task_id for e in seen if e.container_id == started.id} == {"t5"}
    finally:
        follower.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await follower


def _actions(events: list[ContainerEvent]) -> set[tuple[str, str]]:
    return {(e.action, e.container_id) for e in events}


async def _follow_from_now(
    runtime: ContainerRuntime, node: str, seen: list[ContainerEvent]
) -> None:
    # A second back, not 0: since 0 would replay the engine's whole history.
    async for event in runtime.events(node, int(time.time()) - 1):
        seen.append(event)


async def test_the_engine_has_a_stable_id_of_its_own(runtime: ContainerRuntime) -> None:
    first, second = await runtime.info(), await runtime.info()
    assert first.id
    assert first.id == second.id


async def test_every_agent_on_one_engine_reads_the_same_id(engine: docker.APIClient) -> None:
    """What tells two nodes on one engine apart from two engines: the ID lives in the engine."""
    ids = []
    for _ in range(2):
        client = EngineClient(os.environ.get("DOCKER_HOST"))
        try:
            ids.append((await DockerRuntime(client).info()).id)
        finally:
            await client.close()
    assert ids[0]
    assert ids[0] == ids[1]
