"""Control.Events: the store's changes streamed to a client as they happen, filtered, with a
bounded buffer per client. Through a real manager (tests/unit/harness.py) with fake agents."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from pathlib import Path

import grpc
import pytest

from agent.runtime.fake import FakeRuntime
from common import event_filters
from common.api import control_pb2 as pb
from common.api import control_pb2_grpc, types_pb2
from common.model import Node, NodeState, now
from common.tls import Bundle
from manager import event_stream, spec_limits
from manager.event_stream import FellBehind, Subscription
from manager.events import Change
from manager.store import Put, SqliteStore
from tests.unit.harness import Harness, wait_state
from tests.waiting import eventually

WITHIN = 10.0


def text(event: pb.ClusterEvent) -> str:
    """An event as `shoal events` prints it, without its time and ID, which differ per run."""
    attributes = ", ".join(f"{a.key}={a.value}" for a in event.attributes)
    return f"{event.type} {event.action} ({attributes})"


class Reader:
    def __init__(self, call: grpc.aio.UnaryStreamCall[pb.EventsRequest, pb.ClusterEvent]) -> None:
        self.call = call

    async def next(self) -> pb.ClusterEvent:
        event = await asyncio.wait_for(self.call.read(), WITHIN)
        assert isinstance(event, pb.ClusterEvent), "the stream ended"
        return event

    async def take(self, count: int) -> list[str]:
        return [text(await self.next()) for _ in range(count)]

    async def until(self, expected: Sequence[str]) -> list[str]:
        """Read until the expected lines have all come, in this order; every line read."""
        seen: list[str] = []
        waiting = list(expected)
        deadline = time.monotonic() + WITHIN
        while waiting:
            assert time.monotonic() < deadline, f"still waiting for {waiting}; saw {seen}"
            seen.append(text(await self.next()))
            if seen[-1] == waiting[0]:
                waiting.pop(0)
        return seen


@contextlib.asynccontextmanager
async def events(h: Harness, *filters: str, since_unix_nano: int = 0) -> AsyncIterator[Reader]:
    """A subscription, in place when this yields: what is written from then on is streamed."""
    request = pb.EventsRequest(
        filters=[pb.EventFilter(key=k, value=v) for k, v in (f.split("=", 1) for f in filters)],
        since_unix_nano=since_unix_nano,
    )
    call = h.control.Events(request)
    await asyncio.wait_for(call.initial_metadata(), WITHIN)
    try:
        yield Reader(call)
    finally:
        call.cancel()


async def scale(h: Harness, name: str, replicas: int, image: str = "") -> None:
    # A new image starts a rolling update, whose status writes may come between our read and
    # our write: read again then, as the CLI does.
    for attempt in range(10):
        service = (await h.control.GetService(pb.GetServiceRequest(ref=name))).service
        spec = service.spec
        spec.replicas = replicas
        if image:
            spec.container.image = image
        request = pb.UpdateServiceRequest(
            service_id=service.id, version=service.meta.version, spec=spec
        )
        try:
            await h.control.UpdateService(request)
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.ABORTED or attempt == 9:
                raise
        else:
            return


async def remove(h: Harness, name: str) -> None:
    await h.control.RemoveService(pb.RemoveServiceRequest(ref=name))


async def failure(
    call: grpc.aio.UnaryStreamCall[pb.EventsRequest, pb.ClusterEvent],
) -> grpc.aio.AioRpcError:
    """How the stream ends, after whatever it still had to say."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await drain(call)
    return caught.value


async def drain(call: grpc.aio.UnaryStreamCall[pb.EventsRequest, pb.ClusterEvent]) -> None:
    async with asyncio.timeout(WITHIN):
        async for _ in call:
            pass


class TestServiceEvents:
    async def test_create_update_remove(self, harness: Harness) -> None:
        """With type=service, a service's life is three lines, and its tasks are left out."""
        async with events(harness, "type=service") as stream:
            await harness.create("web", 1)
            await scale(harness, "web", 3)
            await remove(harness, "web")
            assert await stream.take(3) == [
                "service create (name=web)",
                "service update (name=web, replicas.old=1, replicas.new=3)",
                "service remove (name=web)",
            ]

    async def test_filters_combine(self, harness: Harness) -> None:
        """type=task AND service=web AND event=create: only web's new tasks, not db's, nor
        their later states."""
        async with events(harness, "type=task", "service=web", "event=create") as stream:
            await harness.create("db", 1)
            await harness.create("web", 2)
            await scale(harness, "web", 3)
            assert await stream.take(3) == [
                "task create (service=web, slot=1, state=new)",
                "task create (service=web, slot=2, state=new)",
                "task create (service=web, slot=3, state=new)",
            ]

    async def test_tasks_report_their_states(self, harness: Harness) -> None:
        async with events(harness, "type=task") as stream:
            await harness.create("web", 1)
            seen = await stream.until(
                [
                    "task create (service=web, slot=1, state=new)",
                    "task update (service=web, slot=1, state.old=new, state.new=pending)",
                    "task update (service=web, slot=1, state.old=pending, state.new=assigned,"
                    " node=mgr)",
                    "task update (service=web, slot=1, state.old=assigned, state.new=running,"
                    " node=mgr)",
                ]
            )
        assert len(seen) == 4, "a write that changed no state was reported"


class TestNodeEvents:
    async def test_a_node_goes_down_and_comes_back(self, harness: Harness) -> None:
        runtime = FakeRuntime()
        node_id = await harness.join("a1", runtime)
        await wait_state(harness, "a1", NodeState.READY)
        async with events(harness, "type=node", "node=a1") as stream:
            await harness.drop_agent(node_id)
            await wait_state(harness, "a1", NodeState.DOWN)
            harness.run_agent(node_id, "a1", runtime)
            seen = await stream.until(
                [
                    "node update (name=a1, state.old=ready, state.new=disconnected)",
                    "node update (name=a1, state.old=disconnected, state.new=down)",
                    "node update (name=a1, state.old=down, state.new=ready)",
                ]
            )
        assert all(line.startswith("node update (name=a1, ") for line in seen)

    async def test_availability(self, harness: Harness) -> None:
        await wait_state(harness, "mgr", NodeState.READY)
        async with events(harness, "node=mgr") as stream:
            node = (await harness.control.GetNode(pb.GetNodeRequest(ref="mgr"))).node
            await harness.control.UpdateNode(
                pb.UpdateNodeRequest(
                    node_id=node.id,
                    version=node.meta.version,
                    availability=types_pb2.NODE_AVAILABILITY_DRAIN,
                )
            )
            assert await stream.take(1) == [
                "node update (name=mgr, availability.old=active, availability.new=drain)"
            ]


class TestSince:
    async def test_replays_what_happened_then_goes_on(self, harness: Harness) -> None:
        await harness.create("web", 1)
        service = (await harness.control.GetService(pb.GetServiceRequest(ref="web"))).service
        since = service.meta.updated_at.ToNanoseconds()
        async with events(harness, "type=service", since_unix_nano=since) as stream:
            await remove(harness, "web")
            assert await stream.take(2) == [
                "service create (name=web)",
                "service remove (name=web)",
            ]

    async def test_a_time_before_the_manager_started(self, harness: Harness) -> None:
        """What the manager kept is replayed, and its first header says from when: the client
        asked for more than exists, which is no reason to give it nothing."""
        await harness.create("web", 1)
        an_hour_ago = int((now() - timedelta(hours=1)).timestamp()) * 10**9
        request = pb.EventsRequest(
            since_unix_nano=an_hour_ago, filters=[pb.EventFilter(key="type", value="service")]
        )
        call = harness.control.Events(request)
        try:
            headers = dict(await asyncio.wait_for(call.initial_metadata(), WITHIN))
            start = int(headers[event_filters.HISTORY_FROM])
            assert an_hour_ago < start <= time.time_ns()
            assert await Reader(call).take(1) == ["service create (name=web)"]
        finally:
            call.cancel()

    async def test_a_time_the_manager_holds_has_no_history_header(self, harness: Harness) -> None:
        async with events(harness, since_unix_nano=time.time_ns()) as stream:
            assert event_filters.HISTORY_FROM not in dict(
                await stream.call.initial_metadata() or ()
            )


class TestRefusals:
    async def test_an_unknown_filter(self, harness: Harness) -> None:
        request = pb.EventsRequest(filters=[pb.EventFilter(key="type", value="volume")])
        error = await failure(harness.control.Events(request))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert error.details() == (
            "invalid filter 'type=volume': type is one of service, node or task"
        )

    async def test_a_worker_certificate(self, harness: Harness) -> None:
        await harness.join("a1", FakeRuntime())
        worker = Bundle.load(harness.state_dir.parent / "a1")
        async with grpc.aio.secure_channel(harness.addr, worker.channel_credentials()) as channel:
            call = control_pb2_grpc.ControlStub(channel).Events(pb.EventsRequest())
            error = await failure(call)
        assert error.code() == grpc.StatusCode.PERMISSION_DENIED


class TestSlowAndGoneClients:
    async def test_a_client_that_does_not_read_is_ended(
        self, harness: Harness, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Once its buffer is full the manager keeps nothing more for it, and the client
        learns so, with where to resume, when it reads again."""
        monkeypatch.setattr(event_stream, "BUFFER", 5)
        # Images far longer than real ones make large events without thousands of updates.
        monkeypatch.setattr(spec_limits, "MAX_IMAGE", 200_000)
        # No replicas: each new image is a rolling update with no task to replace, so the
        # manager writes little besides the events this test wants.
        await harness.create("web", 0)
        async with events(harness, "type=service") as stream:
            # Large events (200 kB: the old image and the new), so that the transport's own
            # buffers, a few MB, fill up soon.
            for version in range(100):
                await scale(harness, "web", 0, image=f"local/busybox:{version}-" + "x" * 100_000)
            error = await failure(stream.call)
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "fell behind by more than 5 events; resume with --since 20" in str(error.details())

    async def test_a_client_that_leaves_is_unsubscribed(
        self, harness: Harness, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        closed: list[Subscription] = []
        close = Subscription.close

        def recording(self: Subscription) -> None:
            closed.append(self)
            close(self)

        monkeypatch.setattr(Subscription, "close", recording)
        async with events(harness) as stream:
            await harness.create("web", 1)
            await stream.next()
        await eventually(lambda: closed, "the subscription to close")

    async def test_a_manager_that_stops_ends_the_command(self, harness: Harness) -> None:
        """`shoal events` ends with one line and exit code 1 when its manager goes away."""
        shoal = Path(sys.executable).parent / "shoal"
        config = harness.state_dir / "admin"
        # --since: the service is created at once, yet shown whenever the command subscribes.
        since = now().isoformat()
        process = await asyncio.create_subprocess_exec(
            str(shoal), "--host", harness.addr, "--config", str(config),
            "events", "--since", since, "--filter", "type=service",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            await harness.create("web", 1)
            assert process.stdout is not None
            first = await asyncio.wait_for(process.stdout.readline(), WITHIN)
            assert b" service create " in first
            await harness.halt()
            _, err = await asyncio.wait_for(process.communicate(), WITHIN)
        finally:
            if process.returncode is None:
                process.send_signal(signal.SIGKILL)
                await process.wait()
        assert process.returncode == 1
        assert err.decode().splitlines() == [
            f"Error: lost the connection to the manager at {harness.addr}"
        ]


class TestSubscription:
    """The buffer between the store and one client, without a network."""

    async def test_overflow_drops_the_watch(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(event_stream, "BUFFER", 3)
        store = await SqliteStore.open(tmp_path / "store.db")
        try:
            subscription = Subscription(store, {})
            batches = subscription.batches()
            for index in range(5):
                await store.commit([Put(Node(f"n{index}"))])
            with pytest.raises(FellBehind, match="more than 3 events"):
                await anext(batches)
            # Nothing more piles up for a client that is gone.
            assert store._events.watches == set()
        finally:
            await store.close()

    async def test_batches_then_close(self, tmp_path: Path) -> None:
        store = await SqliteStore.open(tmp_path / "store.db")
        try:
            subscription = Subscription(store, {"type": frozenset({"node"})})
            batches = subscription.batches()
            await store.commit([Put(Node("a")), Put(Node("b"))])
            batch = await anext(batches)
            assert [r.change.id for r in batch] == ["a", "b"]
            await batches.aclose()
            assert store._events.watches == set()
        finally:
            await store.close()

    async def test_a_failure_reaches_the_reader(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A bug in turning writes into events ends the stream, not just the pump behind it."""

        def broken(*args: object) -> list[Change]:
            raise RuntimeError("broken mapping")

        monkeypatch.setattr(event_stream, "changes", broken)
        store = await SqliteStore.open(tmp_path / "store.db")
        try:
            batches = Subscription(store, {}).batches()
            await store.commit([Put(Node("a"))])
            with pytest.raises(RuntimeError, match="broken mapping"):
                await anext(batches)
            assert store._events.watches == set()
        finally:
            await store.close()
