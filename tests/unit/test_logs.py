"""`shoal service logs` through a real manager and agents over mTLS, with in-memory engines:
lines come from the nodes that hold the containers, follow new tasks and reconnects, and a
subscription the client leaves is ended on every agent."""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest

from agent.runtime.base import SLOT_LABEL, TASK_LABEL
from agent.runtime.fake import FakeContainer, FakeRuntime
from cli.main import main
from common import convert
from common.api import control_pb2 as pb
from common.api import logs_pb2 as lpb
from common.model import ContainerSpec, NodeState, Placement, ServiceSpec, TaskState
from tests.unit.harness import Harness, wait_state
from tests.waiting import eventually

# The daemons of the harness log to the same stdout, in the console layout.
_DAEMON_LOG = re.compile(rb"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \[")


@dataclass(frozen=True)
class Result:
    code: int
    out: list[bytes]
    err: list[bytes]


def _ours(text: bytes) -> list[bytes]:
    return [line for line in text.split(b"\n")[:-1] if not _DAEMON_LOG.match(line)]


@dataclass
class Cluster:
    harness: Harness
    engines: dict[str, FakeRuntime]
    ids: dict[str, str]

    def containers(self, service: str) -> dict[str, tuple[FakeRuntime, FakeContainer]]:
        """Running containers of service by slot, with the engine that runs each."""
        found = {}
        for engine in self.engines.values():
            for c in engine.containers_by_id.values():
                if c.running and c.spec.name.startswith(f"{service}."):
                    found[c.spec.labels[SLOT_LABEL]] = (engine, c)
        return found

    def hostname_of(self, engine: FakeRuntime) -> str:
        return next(name for name, e in self.engines.items() if e is engine)


@pytest.fixture
async def cluster(harness: Harness) -> Cluster:
    """The manager's node (mgr) and two agents, a1 and a2, all ready."""
    engines = {"mgr": harness.manager_runtime, "a1": FakeRuntime(), "a2": FakeRuntime()}
    ids = {"mgr": harness.node_id}
    for name in ("a1", "a2"):
        ids[name] = await harness.join(name, engines[name])
    for name in engines:
        await wait_state(harness, name, NodeState.READY)
    return Cluster(harness, engines, ids)


Running = dict[str, tuple[FakeRuntime, FakeContainer]]


async def started(c: Cluster, service: str, replicas: int) -> Running:
    """Create service and wait until the manager knows each task's container: it asks only
    for containers their agents have reported."""
    await c.harness.create(service, replicas)

    async def reported() -> bool:
        tasks = (await c.harness.control.ListTasks(pb.ListTasksRequest(service_ref=service))).tasks
        running = [t for t in tasks if TaskState(t.status.state) == TaskState.RUNNING]
        return len(running) == replicas and all(t.status.container_id for t in running)

    await eventually(reported, f"{replicas} tasks of {service} running")
    return c.containers(service)


async def started_on(c: Cluster, hostname: str, service: str) -> tuple[FakeRuntime, FakeContainer]:
    """A service of one task, placed on hostname."""
    spec = ServiceSpec(
        name=service,
        container=ContainerSpec(image="local/busybox:latest"),
        placement=Placement(constraints=(f"node.hostname=={hostname}",)),
    )
    await c.harness.control.CreateService(pb.CreateServiceRequest(spec=convert.spec_to_pb(spec)))
    await eventually(lambda: "1" in c.containers(service), f"{service} running")
    return c.containers(service)["1"]


async def shoal(h: Harness, capture: pytest.CaptureFixture[bytes], *argv: str) -> Result:
    """`shoal ARGS...` against the harness manager, on a thread: the CLI blocks."""
    flags = ["--host", h.addr, "--config", str(h.state_dir / "admin")]
    code = await asyncio.to_thread(main, [*flags, *argv])
    captured = capture.readouterr()
    return Result(code, _ours(captured.out), _ours(captured.err))


def prefix(c: Cluster, service: str, slot: str, running: Running) -> bytes:
    engine, container = running[slot]
    task_id = container.spec.labels[TASK_LABEL]
    return f"{service}.{slot}.{task_id[:12]}@{c.hostname_of(engine)}    | ".encode()


class Follower:
    """A `--follow` subscription read in the background, as the client reads it."""

    def __init__(self, h: Harness, ref: str) -> None:
        request = lpb.ServiceLogsRequest(ref=ref, options=lpb.LogOptions(follow=True))
        self.call = h.control.ServiceLogs(request)
        self.lines: list[tuple[str, bytes]] = []
        self.sources: dict[str, lpb.LogSource] = {}
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for message in self.call:
            for source in message.sources:
                self.sources[source.task_id] = source
            self.lines.extend((line.task_id, line.data) for line in message.lines)

    def data(self) -> list[bytes]:
        return [data for _, data in self.lines]

    async def stop(self) -> None:
        self.call.cancel()
        with contextlib.suppress(asyncio.CancelledError, grpc.aio.AioRpcError):
            await self._reader


def open_readers(c: Cluster) -> int:
    return sum(engine.log_readers for engine in c.engines.values())


class TestServiceLogs:
    async def test_lines_from_every_node_carry_their_task_prefix(
        self, cluster: Cluster, capsysbinary: pytest.CaptureFixture[bytes]
    ) -> None:
        """3 tasks on 3 nodes: each line comes once, after `name.slot.task@node    | `."""
        running = await started(cluster, "web", 3)
        assert {cluster.hostname_of(e) for e, _ in running.values()} == {"mgr", "a1", "a2"}
        for slot, (engine, container) in running.items():
            engine.write_log(container.id, f"hello from {slot}".encode())
        result = await shoal(cluster.harness, capsysbinary, "service", "logs", "web")
        assert result.code == 0, result.err
        expected = {prefix(cluster, "web", slot, running) + f"hello from {slot}".encode()
                    for slot in running}  # fmt: skip
        assert sorted(result.out) == sorted(expected)

    async def test_tail_keeps_the_last_lines_of_each_task_in_order(
        self, cluster: Cluster, capsysbinary: pytest.CaptureFixture[bytes]
    ) -> None:
        """--tail 2 of 5 lines on each of 2 tasks: lines 4 and 5 of each, in that order."""
        running = await started(cluster, "api", 2)
        for engine, container in running.values():
            for n in range(1, 6):
                engine.write_log(container.id, f"line {n}".encode())
        result = await shoal(cluster.harness, capsysbinary, "service", "logs", "--tail", "2", "api")
        assert result.code == 0, result.err
        for slot in running:
            mine = [ln for ln in result.out if ln.startswith(prefix(cluster, "api", slot, running))]
            assert [ln.rsplit(b"| ", 1)[1] for ln in mine] == [b"line 4", b"line 5"]

    async def test_many_lines_keep_their_order_and_bytes(
        self, cluster: Cluster, capsysbinary: pytest.CaptureFixture[bytes]
    ) -> None:
        """3000 lines (several batches), a long one and bytes that are not UTF-8: all arrive,
        in order, as written; stderr lines go to stderr; --no-task-ids drops the ID."""
        running = await started(cluster, "bulk", 1)
        engine, container = running["1"]
        written = [f"n{n:05d}".encode() for n in range(3000)]
        written[10] = b"x" * 200_000
        written[20] = b"\xff\xfe not utf-8 \xc3"
        for data in written:
            engine.write_log(container.id, data)
        engine.write_log(container.id, b"oops", stderr=True)
        result = await shoal(
            cluster.harness, capsysbinary, "service", "logs", "--no-task-ids", "bulk"
        )
        assert result.code == 0, result.err
        host = cluster.hostname_of(engine)
        assert result.out == [f"bulk.1@{host}    | ".encode() + d for d in written]
        assert result.err == [f"bulk.1@{host}    | oops".encode()]

    async def test_a_task_id_shows_that_task_alone_with_timestamps(
        self, cluster: Cluster, capsysbinary: pytest.CaptureFixture[bytes]
    ) -> None:
        """A task ID prefix narrows to its task; -t puts docker's RFC 3339 time first."""
        running = await started(cluster, "pair", 2)
        for slot, (engine, container) in running.items():
            engine.write_log(container.id, f"slot {slot}".encode())
        _, first = running["1"]
        task_id = first.spec.labels[TASK_LABEL]
        result = await shoal(
            cluster.harness, capsysbinary, "service", "logs", "-t", "--no-trunc", task_id[:8]
        )
        assert result.code == 0, result.err
        [line] = result.out
        stamp, rest = line.split(b" ", 1)
        assert re.fullmatch(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z", stamp)
        assert rest.startswith(f"pair.1.{task_id}@".encode())
        assert rest.endswith(b"| slot 1")

    async def test_since_leaves_out_older_lines(
        self, cluster: Cluster, capsysbinary: pytest.CaptureFixture[bytes]
    ) -> None:
        """--since with an RFC 3339 time: only the lines written from then on."""
        running = await started(cluster, "late", 1)
        engine, container = running["1"]
        engine.write_log(container.id, b"old")
        boundary = engine.log_lines[container.id][-1].timestamp_ns + 1
        engine.write_log(container.id, b"new")
        since = datetime.fromtimestamp(boundary / 1e9 + 0.000001, UTC).isoformat()
        result = await shoal(
            cluster.harness, capsysbinary, "service", "logs", "--since", since, "late"
        )
        assert result.code == 0, result.err
        assert [ln.rsplit(b"| ", 1)[1] for ln in result.out] == [b"new"]

    async def test_unknown_service_is_one_line_and_exit_1(
        self, cluster: Cluster, capsysbinary: pytest.CaptureFixture[bytes]
    ) -> None:
        result = await shoal(cluster.harness, capsysbinary, "service", "logs", "nope")
        assert result.code == 1
        assert result.err == [b"Error: no such service or task: nope"]

    async def test_a_node_that_is_away_is_reported_and_the_rest_shown(
        self, cluster: Cluster, capsysbinary: pytest.CaptureFixture[bytes]
    ) -> None:
        """Without --follow the command ends: one stderr line for the node that is not
        connected, the other nodes' lines on stdout, exit 1."""
        running = await started(cluster, "half", 3)
        for engine, container in running.values():
            engine.write_log(container.id, b"here")
        await cluster.harness.drop_agent(cluster.ids["a1"])
        await wait_state(cluster.harness, "a1", NodeState.DISCONNECTED)
        result = await shoal(cluster.harness, capsysbinary, "service", "logs", "half")
        assert result.code == 1
        assert result.err == [b"error from node a1: node is not connected"]
        assert len(result.out) == 2


class TestFollow:
    async def test_follow_takes_on_a_replacement_task(self, cluster: Cluster) -> None:
        """A followed service whose task dies: its replacement's lines follow too."""
        running = await started(cluster, "svc", 1)
        engine, container = running["1"]
        engine.write_log(container.id, b"first")
        follower = Follower(cluster.harness, "svc")
        try:
            await eventually(lambda: follower.data() == [b"first"], "the first line")
            engine.write_log(container.id, b"last words")
            await eventually(lambda: follower.data()[-1:] == [b"last words"], "a followed line")
            engine.exit(container.id, 1)
            await eventually(
                lambda: (r := cluster.containers("svc").get("1")) and r[1].id != container.id,
                "a replacement container",
            )
            new_engine, replacement = cluster.containers("svc")["1"]
            new_engine.write_log(replacement.id, b"reborn")
            await eventually(lambda: follower.data()[-1:] == [b"reborn"], "the replacement's line")
            assert follower.data() == [b"first", b"last words", b"reborn"]
            assert follower.lines[-1][0] == replacement.spec.labels[TASK_LABEL]
        finally:
            await follower.stop()

    async def test_follow_survives_an_agent_reconnect_without_repeats(
        self, cluster: Cluster
    ) -> None:
        """The agent holding the task goes away and comes back: lines written meanwhile
        arrive, and none twice."""
        engine, container = await started_on(cluster, "a1", "one")
        engine.write_log(container.id, b"before")
        follower = Follower(cluster.harness, "one")
        try:
            await eventually(lambda: follower.data() == [b"before"], "the first line")
            await cluster.harness.drop_agent(cluster.ids["a1"])
            engine.write_log(container.id, b"while away")
            cluster.harness.run_agent(cluster.ids["a1"], "a1", engine)
            await eventually(lambda: len(follower.data()) == 2, "the line written while away")
            engine.write_log(container.id, b"after")
            await eventually(lambda: len(follower.data()) == 3, "a line after the reconnect")
            await asyncio.sleep(0.3)
            assert follower.data() == [b"before", b"while away", b"after"]
        finally:
            await follower.stop()

    async def test_leaving_ends_the_readers_on_every_agent(self, cluster: Cluster) -> None:
        """The client cancels its call: every agent stops reading the containers."""
        running = await started(cluster, "quit", 3)
        for engine, container in running.values():
            engine.write_log(container.id, b"hi")
        follower = Follower(cluster.harness, "quit")
        await eventually(lambda: len(follower.data()) == 3, "a line from each node")
        assert open_readers(cluster) == 3
        await follower.stop()
        await eventually(lambda: open_readers(cluster) == 0, "no log reader left")

    async def test_ctrl_c_ends_the_command_cleanly(self, cluster: Cluster) -> None:
        """`shoal service logs -f` as a process: SIGINT ends it with exit 0 and no traceback,
        and the agents stop reading."""
        running = await started(cluster, "sig", 2)
        for engine, container in running.values():
            engine.write_log(container.id, b"tick")
        h = cluster.harness
        proc = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).parent / "shoal"),
            *("--host", h.addr, "--config", str(h.state_dir / "admin")),
            *("service", "logs", "-f", "sig"),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            assert proc.stdout is not None
            for _ in running:
                line = await asyncio.wait_for(proc.stdout.readline(), 10)
                assert line.endswith(b"    | tick\n")
            assert open_readers(cluster) == 2
            proc.send_signal(signal.SIGINT)
            _, err = await asyncio.wait_for(proc.communicate(), 10)
            assert proc.returncode == 0, err
            assert b"Traceback" not in err
            await eventually(lambda: open_readers(cluster) == 0, "no log reader left")
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
