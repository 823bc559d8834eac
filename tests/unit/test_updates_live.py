"""Rolling updates, rollbacks and rebalances through the real manager loops, with in-memory
engines that start containers at once (so what is measured is the manager's ordering)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import timedelta

import pytest

from agent.runtime.fake import FakeRuntime
from common import convert
from common.api import control_pb2 as pb
from common.api import types_pb2
from common.model import (
    ContainerSpec,
    FailureAction,
    NodeState,
    Service,
    ServiceMode,
    ServiceSpec,
    UpdateConfig,
    UpdateOrder,
    UpdateState,
)
from tests.unit.harness import Harness, wait_state
from tests.waiting import eventually

OLD = "local/busybox:latest"
NEW = "local/busybox:new"
BROKEN = "local/busybox:broken"


@pytest.fixture
async def engines(harness: Harness) -> dict[str, FakeRuntime]:
    """Three nodes (the manager's and two agents), each with the three images."""
    engines = {"mgr": harness.manager_runtime, "a1": FakeRuntime(), "a2": FakeRuntime()}
    for name, engine in engines.items():
        engine.images |= {NEW, BROKEN}
        engine.crashing.add(BROKEN)
        if name != "mgr":
            await harness.join(name, engine)
        await wait_state(harness, name, NodeState.READY)
    return engines


def running_images(engines: dict[str, FakeRuntime]) -> list[str]:
    return sorted(
        c.spec.image
        for engine in engines.values()
        for c in engine.containers_by_id.values()
        if c.running
    )


@contextlib.asynccontextmanager
async def sampled(measure: Callable[[], int]) -> AsyncIterator[list[int]]:
    """Samples measure() every few milliseconds while the block runs."""
    samples: list[int] = []

    async def sample() -> None:
        while True:
            samples.append(measure())
            await asyncio.sleep(0.002)

    sampler = asyncio.create_task(sample())
    try:
        yield samples
    finally:
        sampler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampler


async def get(h: Harness, name: str) -> Service:
    return convert.service_from_pb(
        (await h.control.GetService(pb.GetServiceRequest(ref=name))).service
    )


async def create(h: Harness, spec: ServiceSpec) -> None:
    await h.control.CreateService(pb.CreateServiceRequest(spec=convert.spec_to_pb(spec)))


async def update(h: Harness, name: str, change: Callable[[ServiceSpec], ServiceSpec]) -> None:
    current = await get(h, name)
    await h.control.UpdateService(
        pb.UpdateServiceRequest(
            service_id=current.id,
            version=current.meta.version,
            spec=convert.spec_to_pb(change(current.spec)),
        )
    )


async def state_of(h: Harness, name: str) -> UpdateState:
    return (await get(h, name)).update_status.state


async def reach(h: Harness, name: str, state: UpdateState, within: float = 20) -> None:
    async def reached() -> bool:
        return await state_of(h, name) == state

    await eventually(reached, f"{name} {state.name}", within)


def web(
    order: UpdateOrder,
    monitor: timedelta = timedelta(milliseconds=100),
    failure_action: FailureAction = FailureAction.PAUSE,
) -> ServiceSpec:
    config = UpdateConfig(
        parallelism=2, order=order, monitor=monitor, failure_action=failure_action
    )
    return ServiceSpec(name="web", container=ContainerSpec(image=OLD), replicas=6, update=config)


def running_ids(engines: dict[str, FakeRuntime]) -> set[str]:
    return {c.id for e in engines.values() for c in e.containers_by_id.values() if c.running}


def new_image(spec: ServiceSpec) -> ServiceSpec:
    return replace(spec, container=replace(spec.container, image=NEW))


class TestRollingUpdate:
    @pytest.mark.parametrize(
        ("order", "floor"), [(UpdateOrder.STOP_FIRST, 4), (UpdateOrder.START_FIRST, 6)]
    )
    async def test_replaces_every_task_never_dropping_below_the_floor(
        self,
        harness: Harness,
        engines: dict[str, FakeRuntime],
        order: UpdateOrder,
        floor: int,
    ) -> None:
        """6 replicas, parallelism 2: stop-first never runs fewer than 4, start-first never
        fewer than 6; at the end all 6 run the new image and the update is COMPLETED."""
        await create(harness, web(order, monitor=timedelta(milliseconds=100)))
        await eventually(lambda: running_images(engines) == [OLD] * 6, "6 old replicas")
        async with sampled(lambda: len(running_images(engines))) as samples:
            await update(harness, "web", new_image)
            await reach(harness, "web", UpdateState.COMPLETED)
        assert running_images(engines) == [NEW] * 6
        assert min(samples) >= floor
        assert max(samples) <= 6 + (2 if order == UpdateOrder.START_FIRST else 0)

    async def test_a_failing_release_is_rolled_back(
        self, harness: Harness, engines: dict[str, FakeRuntime]
    ) -> None:
        """With --update-failure-action rollback, a new image whose containers exit 1 brings
        every task back to the old image, and the status says why."""
        spec = web(UpdateOrder.STOP_FIRST, failure_action=FailureAction.ROLLBACK)
        await create(harness, spec)
        await eventually(lambda: running_images(engines) == [OLD] * 6, "6 old replicas")
        await update(
            harness, "web", lambda s: replace(s, container=replace(s.container, image=BROKEN))
        )
        await reach(harness, "web", UpdateState.ROLLBACK_COMPLETED)
        service = await get(harness, "web")
        assert service.spec.container.image == OLD
        assert "update rolled back due to failure" in service.update_status.message
        await eventually(lambda: running_images(engines) == [OLD] * 6, "6 old replicas again")

    async def test_a_failing_release_pauses_by_default(
        self, harness: Harness, engines: dict[str, FakeRuntime]
    ) -> None:
        """The default failure action pauses: most tasks still run the old image."""
        await create(harness, web(UpdateOrder.STOP_FIRST))
        await eventually(lambda: running_images(engines) == [OLD] * 6, "6 old replicas")
        await update(
            harness, "web", lambda s: replace(s, container=replace(s.container, image=BROKEN))
        )
        await reach(harness, "web", UpdateState.PAUSED)
        service = await get(harness, "web")
        assert service.update_status.message.startswith("update paused due to failure")
        assert running_images(engines).count(OLD) >= 4

    async def test_a_manual_rollback_returns_to_the_previous_spec(
        self, harness: Harness, engines: dict[str, FakeRuntime]
    ) -> None:
        """After a completed update, RollbackService brings the old image back."""
        await create(harness, web(UpdateOrder.START_FIRST, monitor=timedelta(milliseconds=50)))
        await eventually(lambda: running_images(engines) == [OLD] * 6, "6 old replicas")
        await update(harness, "web", new_image)
        await reach(harness, "web", UpdateState.COMPLETED)
        await harness.control.RollbackService(pb.RollbackServiceRequest(ref="web"))
        await reach(harness, "web", UpdateState.ROLLBACK_COMPLETED)
        assert running_images(engines) == [OLD] * 6

    async def test_scaling_alone_is_no_rolling_update(
        self, harness: Harness, engines: dict[str, FakeRuntime]
    ) -> None:
        """A replicas change leaves the update status alone and adds tasks directly."""
        await create(harness, web(UpdateOrder.STOP_FIRST))
        await eventually(lambda: len(running_images(engines)) == 6, "6 replicas")
        await update(harness, "web", lambda s: replace(s, replicas=8))
        await eventually(lambda: len(running_images(engines)) == 8, "8 replicas")
        assert await state_of(harness, "web") == UpdateState.NONE

    async def test_force_replaces_unchanged_tasks(
        self, harness: Harness, engines: dict[str, FakeRuntime]
    ) -> None:
        """Raising force_update replaces every task though the image is the same."""
        await create(harness, web(UpdateOrder.STOP_FIRST, monitor=timedelta(milliseconds=50)))
        await eventually(lambda: len(running_images(engines)) == 6, "6 replicas")
        before = running_ids(engines)
        await update(harness, "web", lambda s: replace(s, force_update=s.force_update + 1))
        await reach(harness, "web", UpdateState.COMPLETED)
        after = running_ids(engines)
        assert len(after) == 6
        assert not before & after


class TestAwkwardStarts:
    async def test_an_update_after_scaling_down_replaces_every_slot_left(
        self, harness: Harness, engines: dict[str, FakeRuntime]
    ) -> None:
        """Scaled from 6 to 3, the slots left may have gaps; a stop-first update still
        replaces each of them and completes."""
        await create(harness, web(UpdateOrder.STOP_FIRST))
        await eventually(lambda: len(running_images(engines)) == 6, "6 replicas")
        await update(harness, "web", lambda s: replace(s, replicas=3))
        await eventually(lambda: len(running_images(engines)) == 3, "3 replicas")
        await update(harness, "web", new_image)
        await reach(harness, "web", UpdateState.COMPLETED)
        await eventually(lambda: running_images(engines) == [NEW] * 3, "3 new replicas")

    async def test_a_global_task_on_a_paused_node_is_left_alone(
        self, harness: Harness, engines: dict[str, FakeRuntime]
    ) -> None:
        """A paused node may take no new task: the update completes and its old task stays."""
        spec = ServiceSpec(
            name="agentd",
            container=ContainerSpec(image=OLD),
            mode=ServiceMode.GLOBAL,
            replicas=0,
            update=UpdateConfig(monitor=timedelta(milliseconds=50)),
        )
        await create(harness, spec)
        await eventually(lambda: len(running_images(engines)) == 3, "one task per node")
        await _set_availability(harness, "a2", types_pb2.NODE_AVAILABILITY_PAUSE)
        await update(harness, "agentd", new_image)
        await reach(harness, "agentd", UpdateState.COMPLETED)
        after = sorted([NEW, NEW, OLD])
        await eventually(lambda: running_images(engines) == after, "a2 kept its task")
        assert running_images({"a2": engines["a2"]}) == [OLD]


class TestRebalance:
    async def test_moves_the_fewest_tasks_one_at_a_time_new_before_old(
        self, harness: Harness, engines: dict[str, FakeRuntime]
    ) -> None:
        """6 replicas on 2 nodes, then a third node comes: rebalance moves 2 tasks to it, one at
        a time, never running fewer than 6 nor more than 7."""
        await _set_availability(harness, "a2", types_pb2.NODE_AVAILABILITY_PAUSE)
        await create(harness, web(UpdateOrder.STOP_FIRST))
        await eventually(lambda: len(running_images(engines)) == 6, "6 replicas")
        assert not running_images({"a2": engines["a2"]})
        await _set_availability(harness, "a2", types_pb2.NODE_AVAILABILITY_ACTIVE)
        async with sampled(lambda: len(running_images(engines))) as samples:
            await harness.control.RebalanceService(pb.RebalanceServiceRequest(ref="web"))
            await reach(harness, "web", UpdateState.REBALANCED)
            await eventually(
                lambda: [len(running_images({n: e})) for n, e in engines.items()] == [2, 2, 2],
                "2 replicas on each node",
            )
        assert (min(samples), max(samples)) == (6, 7)
        service = await get(harness, "web")
        assert service.update_status.message == "rebalance completed: 2 tasks moved"

    async def test_an_even_service_moves_nothing(
        self, harness: Harness, engines: dict[str, FakeRuntime]
    ) -> None:
        await create(harness, web(UpdateOrder.STOP_FIRST))
        await eventually(lambda: len(running_images(engines)) == 6, "6 replicas")
        before = running_ids(engines)
        await harness.control.RebalanceService(pb.RebalanceServiceRequest(ref="web"))
        await reach(harness, "web", UpdateState.REBALANCED)
        assert running_ids(engines) == before


async def _set_availability(h: Harness, hostname: str, availability: int) -> None:
    node = (await h.control.GetNode(pb.GetNodeRequest(ref=hostname))).node
    await h.control.UpdateNode(
        pb.UpdateNodeRequest(
            node_id=node.id,
            version=node.meta.version,
            availability=availability,  # type: ignore[arg-type]
            labels=dict(node.labels),
        )
    )
