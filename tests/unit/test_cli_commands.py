"""The `shoal` commands end to end: cli.main.main against a real gRPC server, with mutual TLS,
that runs an in-memory fake of the Control service."""

from __future__ import annotations

import json
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest

from cli import cas, connection
from cli.client import Client
from cli.connection import Endpoint
from cli.main import main
from common import convert, pki, tls
from common import model as m
from common.api import control_pb2 as api
from common.api import control_pb2_grpc, logs_pb2
from common.errors import Unavailable
from common.ids import new_id
from common.tls import Bundle
from manager.ca import ClusterCA
from tests.unit.fake_networks import FakeNetworks

WEB_ID = "a1b2c3d4e5f6g7h8i9j0k1l2m"
MONITOR_ID = "z9y8x7w6v5u4t3s2r1q0p9o8n"
MANAGER_NODE = "node1manager0000000000000"
WORKER_NODE = "node2worker00000000000000"
MONITOR_ON_MANAGER = "taskmon1000000000000000ee"
MONITOR_ON_WORKER = "taskmon2000000000000000ff"
JOINED = datetime(2024, 5, 16, 22, 52, 44, 991066, tzinfo=UTC)


CLUSTER_ID = "cluster1"
LIFETIME = timedelta(days=1)


class FakeControl(FakeNetworks, control_pb2_grpc.ControlServicer):
    """The Control contract in memory: admin certificates only, refs by ID, name or ID prefix,
    NOT_FOUND for unknown ones, versioned compare-and-swap updates of services and nodes, tasks
    filtered by service and node, nodes removed only when down or forced. Records what the
    client asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.address = ""
        self.services: dict[str, m.Service] = {}
        self.counts: dict[str, tuple[int, int]] = {}
        self.tasks: list[m.Task] = []
        self.nodes: list[m.Node] = []
        self.self_node_id = ""
        self.calls: list[str] = []
        self.updates: list[api.UpdateServiceRequest] = []
        self.node_updates: list[api.UpdateNodeRequest] = []
        self.token_requests: list[tuple[m.NodeRole, bool]] = []
        self.rotations: dict[m.NodeRole, int] = {}
        self.node_removals: list[tuple[str, bool]] = []
        # What PlanService answers: (slot, hostname, reason) per task.
        self.plan: list[tuple[int, str, str]] = []
        # Writes another client makes right after each of our next reads.
        self.interlopers = 0
        self.slow = False
        self.release = threading.Event()
        self.event_requests: list[api.EventsRequest] = []
        # What Events streams: these events, then the end given (a status and its details; OK
        # ends the stream without error), or, without one, nothing more until the client leaves.
        self.events: list[api.ClusterEvent] = []
        self.events_end: tuple[grpc.StatusCode, str] | None = None

    def PlanService(
        self, request: api.CreateServiceRequest, context: grpc.ServicerContext
    ) -> api.PlanServiceResponse:
        self._enter("PlanService", context)
        return api.PlanServiceResponse(
            tasks=[
                api.PlannedTask(slot=slot, node_id=host and f"id-{host}", hostname=host, reason=why)
                for slot, host, why in self.plan
            ]
        )

    def CreateService(
        self, request: api.CreateServiceRequest, context: grpc.ServicerContext
    ) -> api.ServiceResponse:
        self._enter("CreateService", context)
        service = m.Service(
            id=new_id(), spec=convert.spec_from_pb(request.spec), meta=m.Meta(version=1)
        )
        self.services[service.id] = service
        return api.ServiceResponse(service=convert.service_to_pb(service))

    def PlanServiceUpdate(
        self, request: api.UpdateServiceRequest, context: grpc.ServicerContext
    ) -> api.PlanServiceResponse:
        self._enter("PlanServiceUpdate", context)
        self.updates.append(request)
        return self.PlanService(api.CreateServiceRequest(spec=request.spec), context)

    def RollbackService(
        self, request: api.RollbackServiceRequest, context: grpc.ServicerContext
    ) -> api.ServiceResponse:
        self._enter("RollbackService", context)
        current = self._resolve(request.ref, context)
        if current.previous_spec is None:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "no previous spec")
        rolled = replace(
            current,
            spec=current.previous_spec,
            previous_spec=current.spec,
            update_status=m.UpdateStatus(m.UpdateState.ROLLBACK_STARTED),
            meta=replace(current.meta, version=current.meta.version + 1),
        )
        self.services[rolled.id] = rolled
        return api.ServiceResponse(service=convert.service_to_pb(rolled))

    def RebalanceService(
        self, request: api.RebalanceServiceRequest, context: grpc.ServicerContext
    ) -> api.ServiceResponse:
        self._enter("RebalanceService", context)
        current = self._resolve(request.ref, context)
        rebalancing = replace(current, update_status=m.UpdateStatus(m.UpdateState.REBALANCING))
        self.services[current.id] = rebalancing
        return api.ServiceResponse(service=convert.service_to_pb(rebalancing))

    def UpdateService(
        self, request: api.UpdateServiceRequest, context: grpc.ServicerContext
    ) -> api.ServiceResponse:
        self._enter("UpdateService", context)
        self.updates.append(request)
        current = self._resolve(request.service_id, context)
        if request.version != current.meta.version:
            context.abort(grpc.StatusCode.ABORTED, "service changed since it was read")
        updated = replace(
            current,
            spec=convert.spec_from_pb(request.spec),
            previous_spec=current.spec,
            meta=replace(current.meta, version=current.meta.version + 1),
        )
        self.services[updated.id] = updated
        return api.ServiceResponse(service=convert.service_to_pb(updated))

    def GetService(
        self, request: api.GetServiceRequest, context: grpc.ServicerContext
    ) -> api.ServiceResponse:
        self._enter("GetService", context)
        found = self._resolve(request.ref, context)
        if self.interlopers:
            self.interlopers -= 1
            self.services[found.id] = replace(
                found, meta=replace(found.meta, version=found.meta.version + 1)
            )
        return api.ServiceResponse(service=convert.service_to_pb(found))

    def ListServices(
        self, request: api.ListServicesRequest, context: grpc.ServicerContext
    ) -> api.ListServicesResponse:
        self._enter("ListServices", context)
        return api.ListServicesResponse(
            services=[
                api.ServiceView(
                    service=convert.service_to_pb(found),
                    running_tasks=self.counts[found.id][0],
                    desired_tasks=self.counts[found.id][1],
                )
                for found in self.services.values()
            ]
        )

    def RemoveService(
        self, request: api.RemoveServiceRequest, context: grpc.ServicerContext
    ) -> api.RemoveServiceResponse:
        self._enter("RemoveService", context)
        found = self._resolve(request.ref, context)
        del self.services[found.id]
        return api.RemoveServiceResponse(id=found.id)

    def ListTasks(
        self, request: api.ListTasksRequest, context: grpc.ServicerContext
    ) -> api.ListTasksResponse:
        self._enter("ListTasks", context)
        listed = self.tasks
        if request.service_ref:
            found = self._resolve(request.service_ref, context)
            listed = [t for t in listed if t.service_id == found.id]
        if request.node_ref:
            node = self._resolve_node(request.node_ref, context)
            listed = [t for t in listed if t.node_id == node.id]
        return api.ListTasksResponse(
            tasks=[convert.task_to_pb(t) for t in listed],
            nodes=[convert.node_to_pb(n) for n in self.nodes],
        )

    def ListNodes(
        self, request: api.ListNodesRequest, context: grpc.ServicerContext
    ) -> api.ListNodesResponse:
        self._enter("ListNodes", context)
        if self.slow:
            self.release.wait(10)
        return api.ListNodesResponse(
            nodes=[convert.node_to_pb(n) for n in self.nodes], self_node_id=self.self_node_id
        )

    def GetNode(
        self, request: api.GetNodeRequest, context: grpc.ServicerContext
    ) -> api.NodeResponse:
        self._enter("GetNode", context)
        found = self._resolve_node(request.ref, context)
        if self.interlopers:
            self.interlopers -= 1
            self._store_node(
                replace(found, meta=replace(found.meta, version=found.meta.version + 1))
            )
        return api.NodeResponse(node=convert.node_to_pb(found))

    def UpdateNode(
        self, request: api.UpdateNodeRequest, context: grpc.ServicerContext
    ) -> api.NodeResponse:
        self._enter("UpdateNode", context)
        self.node_updates.append(request)
        current = next((n for n in self.nodes if n.id == request.node_id), None)
        if current is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"no such node: {request.node_id}")
        if request.version != current.meta.version:
            context.abort(
                grpc.StatusCode.ABORTED,
                f"node {current.description.hostname} was changed meanwhile; read it and retry",
            )
        updated = replace(
            current,
            availability=m.Availability(request.availability),
            labels=dict(request.labels),
            meta=replace(current.meta, version=current.meta.version + 1),
        )
        self._store_node(updated)
        return api.NodeResponse(node=convert.node_to_pb(updated))

    def RemoveNode(
        self, request: api.RemoveNodeRequest, context: grpc.ServicerContext
    ) -> api.RemoveNodeResponse:
        self._enter("RemoveNode", context)
        self.node_removals.append((request.ref, request.force))
        found = self._resolve_node(request.ref, context)
        if found.state is not m.NodeState.DOWN and not request.force:
            context.abort(grpc.StatusCode.ABORTED, f"node {request.ref} is not down")
        self.nodes.remove(found)
        return api.RemoveNodeResponse(id=found.id)

    def GetJoinToken(
        self, request: api.GetJoinTokenRequest, context: grpc.ServicerContext
    ) -> api.GetJoinTokenResponse:
        self._enter("GetJoinToken", context)
        role = m.NodeRole(request.role)
        self.token_requests.append((role, request.rotate))
        if request.rotate:
            self.rotations[role] = self.rotations.get(role, 0) + 1
        token = f"SHOAL-1-{role.name.lower()}"
        if role in self.rotations:
            token += f"-{self.rotations[role]}"
        return api.GetJoinTokenResponse(token=token, manager_addr="10.0.0.1:7462")

    def ServiceLogs(
        self, request: logs_pb2.ServiceLogsRequest, context: grpc.ServicerContext
    ) -> Iterator[logs_pb2.ServiceLogsMessage]:
        """Logs go through the real manager in tests/unit/test_logs.py; here, none."""
        self._enter("ServiceLogs", context)
        self._resolve(request.ref, context)
        yield from ()

    def Events(
        self, request: api.EventsRequest, context: grpc.ServicerContext
    ) -> Iterator[api.ClusterEvent]:
        self._enter("Events", context)
        self.event_requests.append(request)
        left = threading.Event()
        context.add_callback(left.set)
        # As the manager does: headers once subscribed, before any event.
        context.send_initial_metadata(())
        yield from self.events
        if self.events_end is None:
            left.wait(10)
        elif self.events_end[0] is not grpc.StatusCode.OK:
            context.abort(*self.events_end)

    def _enter(self, method: str, context: grpc.ServicerContext) -> None:
        role = tls.peer_subject(context).role
        if role != pki.ROLE_ADMIN:
            context.abort(
                grpc.StatusCode.PERMISSION_DENIED,
                f"a {role} certificate cannot use the control API",
            )
        self.calls.append(method)

    def _resolve(self, ref: str, context: grpc.ServicerContext) -> m.Service:
        if ref in self.services:
            return self.services[ref]
        matches = [s for s in self.services.values() if s.spec.name == ref] or [
            s for s in self.services.values() if s.id.startswith(ref)
        ]
        if len(matches) != 1:
            context.abort(grpc.StatusCode.NOT_FOUND, f"no such service: {ref}")
        return matches[0]

    def _resolve_node(self, ref: str, context: grpc.ServicerContext) -> m.Node:
        matches = [
            n for n in self.nodes if ref in (n.id, n.description.hostname) or n.id.startswith(ref)
        ]
        if len(matches) != 1:
            context.abort(grpc.StatusCode.NOT_FOUND, f"no such node: {ref}")
        return matches[0]

    def _store_node(self, node: m.Node) -> None:
        self.nodes = [node if n.id == node.id else n for n in self.nodes]


def seed(fake: FakeControl) -> None:
    """Two services (web: replicated, 3 slots with history; monitor: global, one task on each
    node) on two nodes (manager-1, the one that answers, with labels and resources; worker-1,
    down, without)."""
    now = m.now()

    def ago(delta: timedelta) -> m.Meta:
        return m.Meta(version=1, created_at=now - delta, updated_at=now - delta)

    web = m.Service(
        id=WEB_ID,
        spec=m.ServiceSpec(
            name="web",
            container=m.ContainerSpec(image="nginx:1.25", args=("nginx", "-g", "daemon off;")),
            labels={"tier": "front"},
            replicas=3,
        ),
        meta=m.Meta(version=7, created_at=now - timedelta(days=1), updated_at=now),
        previous_spec=m.ServiceSpec(name="web", container=m.ContainerSpec(image="nginx:1.24")),
    )
    monitor = m.Service(
        id=MONITOR_ID,
        spec=m.ServiceSpec(
            name="monitor",
            container=m.ContainerSpec(image="prom/node-exporter"),
            mode=m.ServiceMode.GLOBAL,
        ),
        meta=m.Meta(version=2),
    )
    fake.services = {web.id: web, monitor.id: monitor}
    fake.counts = {web.id: (2, 3), monitor.id: (2, 2)}

    def web_task(
        task_id: str, slot: int, age: timedelta, node_id: str, state: m.TaskState, err: str = ""
    ) -> m.Task:
        desired = m.TaskState.RUNNING if state <= m.TaskState.RUNNING else m.TaskState.SHUTDOWN
        return m.Task(
            id=task_id,
            service_id=WEB_ID,
            service_name="web",
            slot=slot,
            spec=web.spec.container,
            meta=ago(age),
            node_id=node_id,
            desired_state=desired,
            status=m.TaskStatus(state=state, timestamp=now - age, err=err),
        )

    def monitor_task(task_id: str, node_id: str) -> m.Task:
        return m.Task(
            id=task_id,
            service_id=MONITOR_ID,
            service_name="monitor",
            slot=0,
            spec=monitor.spec.container,
            meta=ago(timedelta(hours=2)),
            node_id=node_id,
            status=m.TaskStatus(state=m.TaskState.RUNNING, timestamp=now - timedelta(hours=2)),
        )

    fake.tasks = [
        web_task("task1old0000000000000000a", 1, timedelta(minutes=40.5), WORKER_NODE,
                 m.TaskState.FAILED, "task: non-zero exit (137): killed by the kernel"),
        web_task("task1new0000000000000000b", 1, timedelta(minutes=3.5), MANAGER_NODE,
                 m.TaskState.RUNNING),
        web_task("task2000000000000000000cc", 2, timedelta(minutes=3.5), "vanished",
                 m.TaskState.RUNNING),
        web_task("task3000000000000000000dd", 3, timedelta(minutes=3.5), "",
                 m.TaskState.PENDING, "no suitable node (insufficient memory on 2 nodes)"),
        monitor_task(MONITOR_ON_MANAGER, MANAGER_NODE),
        monitor_task(MONITOR_ON_WORKER, WORKER_NODE),
    ]  # fmt: skip
    fake.nodes = [
        m.Node(
            id=WORKER_NODE,
            meta=m.Meta(version=4, created_at=JOINED, updated_at=JOINED),
            role=m.NodeRole.WORKER,
            availability=m.Availability.DRAIN,
            state=m.NodeState.DOWN,
            message="heartbeat failure",
            description=m.NodeDescription(hostname="worker-1", engine_version="27.3.1"),
        ),
        m.Node(
            id=MANAGER_NODE,
            meta=m.Meta(version=12, created_at=JOINED, updated_at=now),
            role=m.NodeRole.MANAGER,
            availability=m.Availability.ACTIVE,
            state=m.NodeState.READY,
            description=m.NodeDescription(
                hostname="manager-1",
                engine_version="28.0.0",
                resources=m.Resources(nano_cpus=4_000_000_000, memory_bytes=8_271_880_192),
                os="linux",
                arch="x86_64",
                version="0.2.0",
                protocol=2,
            ),
            addr="10.0.0.1",
            labels={"zone": "eu-1", "ssd": ""},
        ),
    ]
    fake.self_node_id = MANAGER_NODE


@dataclass(frozen=True)
class Certificates:
    """Bundle directories, made once per session: ECDSA keys are cheap, but not free."""

    server: Bundle
    admin: Path
    worker: Path
    foreign: Path
    """An admin bundle of another cluster, with that cluster's CA."""
    stranger: Path
    """This cluster's CA, but a certificate and key another cluster's CA issued."""
    localhost_only: Bundle
    """A server bundle that names localhost but not 127.0.0.1."""


@pytest.fixture(scope="session")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    root = tmp_path_factory.mktemp("pki")
    ca = ClusterCA.load_or_create(root / "ca", CLUSTER_ID)
    other = ClusterCA.load_or_create(root / "other-ca", "cluster2")

    def bundle(issuer: ClusterCA, role: str, hosts: list[str] | None = None) -> Bundle:
        return issuer.issue_with_key(role, role, CLUSTER_ID, LIFETIME, hosts=hosts).bundle(issuer)

    def saved(name: str, saving: Bundle) -> Path:
        saving.save(root / name)
        return root / name

    foreign = bundle(other, pki.ROLE_ADMIN)
    return Certificates(
        server=bundle(ca, pki.ROLE_MANAGER, ["localhost", "127.0.0.1"]),
        admin=saved("admin", bundle(ca, pki.ROLE_ADMIN)),
        worker=saved("worker", bundle(ca, pki.ROLE_WORKER)),
        foreign=saved("foreign", foreign),
        stranger=saved("stranger", replace(foreign, ca_pem=ca.pem)),
        localhost_only=bundle(ca, pki.ROLE_MANAGER, ["localhost"]),
    )


@dataclass(frozen=True)
class Places:
    """Where the client looks for a bundle when no directory is named, all under tmp_path."""

    home_config: Path
    manager_admin: Path


@pytest.fixture(autouse=True)
def places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Places:
    """Keeps the test run's own environment, home and /var/lib out of every test."""
    monkeypatch.delenv(connection.CONFIG_ENV, raising=False)
    monkeypatch.delenv(connection.HOST_ENV, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(connection, "MANAGER_ADMIN_DIR", tmp_path / "manager-admin")
    return Places(
        home_config=tmp_path / "home" / ".shoal", manager_admin=tmp_path / "manager-admin"
    )


@contextmanager
def serving(fake: FakeControl, server_bundle: Bundle) -> Iterator[None]:
    """The fake on a free port of 127.0.0.1, demanding a client certificate from the CA."""
    server = grpc.server(ThreadPoolExecutor(max_workers=4))
    control_pb2_grpc.add_ControlServicer_to_server(fake, server)
    credentials = grpc.ssl_server_credentials(
        [(server_bundle.key_pem, server_bundle.cert_pem)],
        root_certificates=server_bundle.ca_pem,
        require_client_auth=True,
    )
    port = server.add_secure_port("127.0.0.1:0", credentials)
    server.start()
    fake.address = f"127.0.0.1:{port}"
    try:
        yield
    finally:
        fake.release.set()
        server.stop(None)


@pytest.fixture
def control(certificates: Certificates) -> Iterator[FakeControl]:
    fake = FakeControl()
    seed(fake)
    with serving(fake, certificates.server):
        yield fake


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str

    @property
    def lines(self) -> list[str]:
        return self.out.splitlines()


class Shoal:
    """Runs `shoal [--host HOST] [--config DIR] ARGS...` in-process and captures what it
    printed."""

    def __init__(
        self, capsys: pytest.CaptureFixture[str], host: str = "", config: Path | None = None
    ) -> None:
        self._capsys = capsys
        self._flags = ["--host", host] if host else []
        if config is not None:
            self._flags += ["--config", str(config)]

    def __call__(self, *argv: str) -> Result:
        code: int | str | None
        try:
            code = main([*self._flags, *argv])
        except SystemExit as exc:  # usage errors leave through argparse
            code = exc.code
        assert isinstance(code, int)
        captured = self._capsys.readouterr()
        return Result(code, captured.out, captured.err)


@pytest.fixture
def shoal(
    control: FakeControl, certificates: Certificates, capsys: pytest.CaptureFixture[str]
) -> Shoal:
    return Shoal(capsys, control.address, certificates.admin)


def one_error_line(result: Result) -> str:
    """The failure was reported as exactly one line on stderr with exit code 1."""
    assert result.code == 1
    [line] = result.err.splitlines()
    return line


class TestServiceCreate:
    def test_sends_the_spec_and_prints_the_new_id(self, shoal: Shoal, control: FakeControl) -> None:
        """Name, replicas, env, labels and image reach the server; the new ID is printed."""
        result = shoal(
            "service", "create", "-d", "--name", "api", "--replicas", "4", "-e", "A=1",
            "--env", "B=x=y", "-l", "team=core", "--label", "canary", "redis:7",
        )  # fmt: skip
        assert result.code == 0
        [created] = [s for s in control.services.values() if s.spec.name == "api"]
        assert result.out == f"{created.id}\n"
        assert created.spec == m.ServiceSpec(
            name="api",
            container=m.ContainerSpec(image="redis:7", env=("A=1", "B=x=y")),
            labels={"team": "core", "canary": ""},
            replicas=4,
        )

    def test_words_after_the_image_are_the_command_verbatim(
        self, shoal: Shoal, control: FakeControl
    ) -> None:
        """Everything after IMAGE, including words that look like shoal flags, is the command."""
        result = shoal(
            "service", "create", "-d", "--name", "job", "busybox",
            "sh", "-c", "echo hi", "--name", "other", "--replicas", "-1", "-e", "X",
        )  # fmt: skip
        assert result.code == 0
        [created] = [s for s in control.services.values() if s.spec.name == "job"]
        assert created.spec.container.args == (
            "sh", "-c", "echo hi", "--name", "other", "--replicas", "-1", "-e", "X",
        )  # fmt: skip
        assert created.spec.replicas == 1

    def test_mode_global_sends_no_replica_count(self, shoal: Shoal, control: FakeControl) -> None:
        """`--mode global` creates a global service, whose spec carries no replica count."""
        result = shoal("service", "create", "-d", "--mode", "global", "--name", "agentd", "busybox")
        assert result.code == 0
        [created] = [s for s in control.services.values() if s.spec.name == "agentd"]
        assert (created.spec.mode, created.spec.replicas) == (m.ServiceMode.GLOBAL, 0)

    def test_replicas_with_mode_global_is_refused(self, shoal: Shoal, control: FakeControl) -> None:
        """As in docker, --replicas goes only with replicated mode: one line, exit 1, no write."""
        before = dict(control.services)
        result = shoal("service", "create", "-d", "--mode", "global", "--replicas", "2", "busybox")
        assert one_error_line(result) == "Error: --replicas can only be used with replicated mode"
        assert result.code == 1
        assert control.services == before

    def test_name_defaults_to_the_image_name_and_a_random_suffix(
        self, shoal: Shoal, control: FakeControl
    ) -> None:
        """Without --name the service is named `<image name>-<6 base36 chars>`."""
        result = shoal("service", "create", "-d", "registry.local:5000/team/web-app:1.2@sha256:ab")
        assert result.code == 0
        [created] = [s for s in control.services.values() if s.id == result.out.strip()]
        assert re.fullmatch(r"web-app-[0-9a-z]{6}", created.spec.name)

    @pytest.mark.parametrize(
        ("argv", "message"),
        [
            (("--replicas", "-1"), "invalid replicas '-1'"),
            (("--replicas", "two"), "invalid replicas 'two'"),
            (("-e", "NOVALUE"), "invalid env 'NOVALUE': expected KEY=VALUE"),
            (("-e", "=x"), "invalid env '=x': expected KEY=VALUE"),
            (("-l", "=x"), "invalid label '=x'"),
        ],
    )
    def test_bad_flags_are_refused_before_anything_is_sent(
        self, shoal: Shoal, control: FakeControl, argv: tuple[str, ...], message: str
    ) -> None:
        """A malformed flag value is a usage error: one line, a hint, exit 1, no call made."""
        result = shoal("service", "create", "-d", *argv, "nginx")
        assert result.code == 1
        (line,) = result.err.splitlines()
        assert line.startswith("shoal: error: argument ")
        assert message in line
        assert line.endswith("(see 'shoal service create --help')")
        assert control.calls == []

    def test_image_is_required(self, shoal: Shoal, control: FakeControl) -> None:
        """Without an IMAGE the usage error names only IMAGE (the command may be empty)."""
        result = shoal("service", "create", "-d", "--name", "x")
        assert result.code == 1
        assert result.err.splitlines() == [
            "shoal: error: the following arguments are required: IMAGE"
            " (see 'shoal service create --help')"
        ]
        assert control.calls == []


class TestServiceLs:
    def test_table(self, shoal: Shoal) -> None:
        """Docker's columns, sorted by name: ID cut to 12, mode, running/desired, image."""
        result = shoal("service", "ls")
        assert result.code == 0
        assert result.lines == [
            "ID             NAME      MODE         REPLICAS   IMAGE                PORTS",
            f"{MONITOR_ID[:12]}   monitor   global       2/2        prom/node-exporter",
            f"{WEB_ID[:12]}   web       replicated   2/3        nginx:1.25",
        ]

    def test_quiet_prints_full_ids(self, shoal: Shoal) -> None:
        """`-q` prints each service's full ID and nothing else."""
        assert shoal("service", "ls", "-q").lines == [MONITOR_ID, WEB_ID]

    def test_json_lines(self, shoal: Shoal) -> None:
        """`--format json` prints one JSON object per service with docker's keys."""
        records = [json.loads(line) for line in shoal("service", "ls", "--format", "json").lines]
        assert records[1] == {
            "ID": WEB_ID[:12],
            "Name": "web",
            "Mode": "replicated",
            "Replicas": "2/3",
            "Image": "nginx:1.25",
            "Ports": "",
        }
        assert [r["Name"] for r in records] == ["monitor", "web"]


class TestServicePs:
    def test_table_groups_each_slots_history(self, shoal: Shoal) -> None:
        """Slots in order, each newest first with older tasks as ` \\_ web.N`; NODE is the
        hostname, else the node ID, else empty; errors are quoted and cut to 30 characters."""
        result = shoal("service", "ps", "web")
        assert result.code == 0
        assert result.lines == [
            "ID             NAME        IMAGE        NODE        DESIRED STATE   "
            "CURRENT STATE           ERROR                              PORTS",
            "task1new0000   web.1       nginx:1.25   manager-1   Running         "
            "Running 3 minutes ago",
            "task1old0000    \\_ web.1   nginx:1.25   worker-1    Shutdown        "
            'Failed 40 minutes ago   "task: non-zero exit (137): ki…"',
            "task20000000   web.2       nginx:1.25   vanished    Running         "
            "Running 3 minutes ago",
            "task30000000   web.3       nginx:1.25               Running         "
            'Pending 3 minutes ago   "no suitable node (insufficien…"',
        ]

    def test_no_trunc(self, shoal: Shoal) -> None:
        """`--no-trunc` shows full task IDs and whole errors."""
        result = shoal("service", "ps", "--no-trunc", "web")
        assert "task1old0000000000000000a" in result.lines[2]
        assert '"task: non-zero exit (137): killed by the kernel"' in result.lines[2]

    def test_quiet(self, shoal: Shoal) -> None:
        """`-q` prints only the (truncated) task IDs, in table order."""
        assert shoal("service", "ps", "-q", "web").lines == [
            "task1new0000", "task1old0000", "task20000000", "task30000000",
        ]  # fmt: skip

    def test_json_lines_use_plain_names(self, shoal: Shoal) -> None:
        """`--format json` gives one object per task; names are not indented (as docker)."""
        lines = shoal("service", "ps", "--format", "json", "web").lines
        records = [json.loads(line) for line in lines]
        assert [r["Name"] for r in records] == ["web.1", "web.1", "web.2", "web.3"]
        assert records[1]["CurrentState"] == "Failed 40 minutes ago"
        assert set(records[0]) == {
            "ID", "Name", "Image", "Node", "DesiredState", "CurrentState", "Error", "Ports",
        }  # fmt: skip

    def test_unknown_service(self, shoal: Shoal) -> None:
        """An unknown service fails with the server's message on one line."""
        result = shoal("service", "ps", "nope")
        assert one_error_line(result) == "Error: no such service: nope"
        assert result.out == ""


DEFAULT_UPDATE_CONFIG = {
    "Parallelism": 1,
    "Delay": 0,
    "FailureAction": "pause",
    "Monitor": 5_000_000_000,
    "MaxFailureRatio": 0.0,
    "Order": "stop-first",
}


class TestServiceInspect:
    def test_document(self, shoal: Shoal) -> None:
        """A JSON array with docker's layout: ID, Version.Index, RFC 3339 times, Spec with Mode
        and TaskTemplate.ContainerSpec and RestartPolicy, and PreviousSpec once the service was
        updated."""
        result = shoal("service", "inspect", "web", MONITOR_ID[:5])
        assert result.code == 0
        web, monitor = json.loads(result.out)
        assert web["ID"] == WEB_ID
        assert web["Version"] == {"Index": 7}
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", web["CreatedAt"])
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", web["UpdatedAt"])
        assert web["Spec"] == {
            "Name": "web",
            "Labels": {"tier": "front"},
            "TaskTemplate": {
                "ContainerSpec": {
                    "Image": "nginx:1.25",
                    "Args": ["nginx", "-g", "daemon off;"],
                    "Env": [],
                    "Labels": {},
                },
                "RestartPolicy": {"Condition": "any", "MaxAttempts": 0},
                "Resources": {
                    "Limits": {"NanoCPUs": 0, "MemoryBytes": 0},
                    "Reservations": {"NanoCPUs": 0, "MemoryBytes": 0},
                },
                "Placement": {"Constraints": [], "Preferences": [], "MaxReplicas": 0},
                "ForceUpdate": 0,
            },
            "Mode": {"Replicated": {"Replicas": 3}},
            "UpdateConfig": DEFAULT_UPDATE_CONFIG,
            "RollbackConfig": DEFAULT_UPDATE_CONFIG,
        }
        assert web["PreviousSpec"]["TaskTemplate"]["ContainerSpec"]["Image"] == "nginx:1.24"
        assert monitor["Spec"]["Mode"] == {"Global": {}}
        assert "PreviousSpec" not in monitor

    def test_status_names_the_pending_tasks_and_why(self, shoal: Shoal) -> None:
        """ServiceStatus counts running and desired tasks and gives each pending task's reason in
        full; a global service desires the tasks it has."""
        web, monitor = json.loads(shoal("service", "inspect", "web", "monitor").out)
        assert web["ServiceStatus"] == {
            "RunningTasks": 2,
            "DesiredTasks": 3,
            "PendingTasks": [
                {
                    "ID": "task3000000000000000000dd",
                    "Name": "web.3",
                    "Reason": "no suitable node (insufficient memory on 2 nodes)",
                }
            ],
        }
        assert monitor["ServiceStatus"] == {
            "RunningTasks": 2,
            "DesiredTasks": 2,
            "PendingTasks": [],
        }

    def test_pretty(self, shoal: Shoal) -> None:
        """--pretty: docker's layout at docker's column, with the pending task and why."""
        result = shoal("service", "inspect", "--pretty", "web")
        assert result.code == 0
        lines = result.out.splitlines()
        for expected in (
            f"ID:                     {WEB_ID}",
            "Name:                   web",
            "Service Mode:           Replicated",
            " Replicas:              3",
            " web.3:                 no suitable node (insufficient memory on 2 nodes)",
            "UpdateConfig:",
            " On failure:            pause",
            " Monitoring Period:     5s",
            " Rollback order:        stop-first",
            " Image:                 nginx:1.25",
            " Args:                  nginx -g 'daemon off;'",
        ):
            assert expected in lines
        assert lines.index("Pending Tasks:") < lines.index("UpdateConfig:")

    def test_pretty_global_separates_services(self, shoal: Shoal) -> None:
        lines = shoal("service", "inspect", "--pretty", "web", "monitor").out.splitlines()
        assert "Service Mode:           Global" in lines
        assert lines.count("") == 1

    def test_unknown_service(self, shoal: Shoal) -> None:
        """Any unknown service fails the command with one line and prints no JSON."""
        result = shoal("service", "inspect", "web", "nope")
        assert one_error_line(result) == "Error: no such service: nope"
        assert result.out == ""


class TestServiceRm:
    def test_removes_each_and_prints_its_ref(self, shoal: Shoal, control: FakeControl) -> None:
        """Each removed service is printed as the user named it."""
        result = shoal("service", "rm", "web", MONITOR_ID)
        assert (result.code, result.lines) == (0, ["web", MONITOR_ID])
        assert control.services == {}

    def test_unknown_one_is_reported_and_the_rest_removed(
        self, shoal: Shoal, control: FakeControl
    ) -> None:
        """An unknown service gets an error line; the others are still removed; exit 1."""
        result = shoal("service", "rm", "web", "nope", "monitor")
        assert one_error_line(result) == "Error: no such service: nope"
        assert result.lines == ["web", "monitor"]
        assert control.services == {}


class TestServiceScale:
    def test_sends_the_replicas_with_the_version_read(
        self, shoal: Shoal, control: FakeControl
    ) -> None:
        """The update carries the version just read and the whole spec with the new count."""
        result = shoal("service", "scale", "-d", "web=5")
        assert (result.code, result.out) == (0, "web scaled to 5\n")
        [update] = control.updates
        assert (update.service_id, update.version, update.spec.replicas) == (WEB_ID, 7, 5)
        assert update.spec.container.image == "nginx:1.25"
        assert control.services[WEB_ID].spec.replicas == 5

    def test_retries_when_another_client_wrote_in_between(
        self, shoal: Shoal, control: FakeControl
    ) -> None:
        """A stale version (ABORTED) makes scale read again and retry with the new version."""
        control.interlopers = 2
        result = shoal("service", "scale", "-d", "web=0")
        assert (result.code, result.out) == (0, "web scaled to 0\n")
        assert [u.version for u in control.updates] == [7, 8, 9]
        assert control.services[WEB_ID].spec.replicas == 0

    def test_gives_up_after_a_few_conflicts(self, shoal: Shoal, control: FakeControl) -> None:
        """When every attempt is beaten by another writer, scale fails with one line."""
        control.interlopers = cas.ATTEMPTS
        result = shoal("service", "scale", "-d", "web=5")
        assert one_error_line(result) == "Error: service changed since it was read"
        assert len(control.updates) == cas.ATTEMPTS
        assert control.services[WEB_ID].spec.replicas == 3

    @pytest.mark.parametrize("target", ["web", "web=", "=3", "web=-1", "web=x", "web=1.5"])
    def test_bad_specifier_sends_nothing(
        self, shoal: Shoal, control: FakeControl, target: str
    ) -> None:
        """A malformed SERVICE=REPLICAS fails the whole command before any call is made."""
        result = shoal("service", "scale", "-d", "monitor=1", target)
        assert result.code == 1
        assert f"invalid scale specifier {target!r}" in result.err.splitlines()[0]
        assert control.calls == []

    def test_global_service_cannot_be_scaled(self, shoal: Shoal, control: FakeControl) -> None:
        """Scaling a global service is refused; the other services are still scaled."""
        result = shoal("service", "scale", "-d", "monitor=3", "web=1")
        line = one_error_line(result)
        assert line == "Error: monitor: scale can only be used with replicated mode"
        assert result.out == "web scaled to 1\n"
        assert [u.service_id for u in control.updates] == [WEB_ID]

    def test_unknown_service(self, shoal: Shoal, control: FakeControl) -> None:
        """An unknown service is reported and nothing is updated."""
        result = shoal("service", "scale", "-d", "nope=2")
        assert one_error_line(result) == "Error: no such service: nope"
        assert control.updates == []


class TestRestartFlags:
    def test_create_sends_the_policy(self, shoal: Shoal, control: FakeControl) -> None:
        """--restart-* flags on create become the service's restart policy."""
        result = shoal(
            "service", "create", "-d", "--name", "job", "--restart-condition", "on-failure",
            "--restart-delay", "2s", "--restart-max-attempts", "3", "--restart-window", "1m",
            "busybox",
        )  # fmt: skip
        assert result.code == 0
        [created] = [s for s in control.services.values() if s.spec.name == "job"]
        assert created.spec.restart == m.RestartPolicy(
            m.RestartCondition.ON_FAILURE, timedelta(seconds=2), 3, timedelta(minutes=1)
        )

    def test_create_defaults(self, shoal: Shoal, control: FakeControl) -> None:
        """Without flags the policy is the default one: any, no limit, unbounded window."""
        assert shoal("service", "create", "-d", "--name", "job", "busybox").code == 0
        [created] = [s for s in control.services.values() if s.spec.name == "job"]
        assert created.spec.restart == m.RestartPolicy()

    def test_update_changes_only_what_is_given(self, shoal: Shoal, control: FakeControl) -> None:
        """service update --restart-condition none keeps the rest of the spec as it was."""
        result = shoal("service", "update", "-d", "--restart-condition", "none", "web")
        assert (result.code, result.out) == (0, "web\n")
        [update] = control.updates
        assert update.version == 7
        spec = control.services[WEB_ID].spec
        assert spec.restart.condition == m.RestartCondition.NONE
        assert spec.replicas == 3
        assert spec.container.image == "nginx:1.25"

    def test_update_replicas(self, shoal: Shoal, control: FakeControl) -> None:
        """service update --replicas is scale by another name."""
        assert shoal("service", "update", "-d", "--replicas", "1", "web").code == 0
        assert control.services[WEB_ID].spec.replicas == 1

    @pytest.mark.parametrize(
        ("flag", "value"),
        [
            ("--restart-condition", "sometimes"),
            ("--restart-delay", "soon"),
            ("--restart-delay", "0s"),
            ("--restart-max-attempts", "-1"),
            ("--restart-window", "5x"),
        ],
    )
    def test_bad_values_send_nothing(
        self, shoal: Shoal, control: FakeControl, flag: str, value: str
    ) -> None:
        """A malformed restart flag is a one-line usage error, exit 1, and no call."""
        result = shoal("service", "update", "-d", flag, value, "web")
        assert result.code == 1
        assert len(result.err.splitlines()) == 1
        assert control.calls == []


class TestPlacementFlags:
    def test_create_sends_constraints_reservations_and_limits(
        self, shoal: Shoal, control: FakeControl
    ) -> None:
        """Placement and resource flags become the spec, in docker's units."""
        result = shoal(
            "service", "create", "-d", "--name", "db", "--constraint", "node.labels.zone==b",
            "--constraint", "node.role!=manager", "--replicas-max-per-node", "1",
            "--reserve-cpu", "0.5", "--reserve-memory", "512m", "--limit-cpu", "1.5",
            "--limit-memory", "1g", "busybox",
        )  # fmt: skip
        assert result.code == 0
        [created] = [s for s in control.services.values() if s.spec.name == "db"]
        spec = created.spec
        assert spec.placement == m.Placement(("node.labels.zone==b", "node.role!=manager"), 1)
        assert spec.reservations == m.Resources(nano_cpus=500_000_000, memory_bytes=512 << 20)
        assert spec.container.limits == m.Resources(nano_cpus=1_500_000_000, memory_bytes=1 << 30)

    def test_update_adds_and_removes_constraints(self, shoal: Shoal, control: FakeControl) -> None:
        """--constraint-add appends, --constraint-rm removes, the rest stays."""
        assert (
            shoal("service", "update", "-d", "--constraint-add", "node.labels.a==1", "web").code
            == 0
        )
        assert control.services[WEB_ID].spec.placement.constraints == ("node.labels.a==1",)
        assert (
            shoal("service", "update", "-d", "--constraint-rm", "node.labels.a==1", "web").code == 0
        )
        assert control.services[WEB_ID].spec.placement.constraints == ()

    @pytest.mark.parametrize(
        ("flag", "value"),
        [
            ("--constraint", "zone==b"),
            ("--reserve-memory", "lots"),
            ("--limit-cpu", "-1"),
            ("--replicas-max-per-node", "x"),
        ],
    )
    def test_bad_values_send_nothing(
        self, shoal: Shoal, control: FakeControl, flag: str, value: str
    ) -> None:
        """A malformed placement flag is a one-line usage error, exit 1, and no call."""
        result = shoal("service", "create", "-d", flag, value, "busybox")
        assert result.code == 1
        assert len(result.err.splitlines()) == 1
        assert control.calls == []


class TestServiceUpdate:
    def test_image_env_labels_args_and_force(self, shoal: Shoal, control: FakeControl) -> None:
        """The container flags change what they name; --force raises the force counter."""
        control.services[WEB_ID] = replace(
            control.services[WEB_ID],
            spec=replace(
                control.services[WEB_ID].spec,
                container=replace(control.services[WEB_ID].spec.container, env=("A=1", "B=2")),
            ),
        )
        result = shoal(
            "service", "update", "-d", "--image", "nginx:1.26", "--env-add", "B=3",
            "--env-add", "C=4", "--env-rm", "A", "--label-add", "tier=back", "--label-rm",
            "nope", "--args", "nginx -g 'daemon off;'", "--force", "web",
        )  # fmt: skip
        assert (result.code, result.out) == (0, "web\n")
        spec = control.services[WEB_ID].spec
        assert spec.container.image == "nginx:1.26"
        assert spec.container.env == ("B=3", "C=4")
        assert spec.container.args == ("nginx", "-g", "daemon off;")
        assert spec.labels == {"tier": "back"}
        assert spec.force_update == 1

    def test_update_policy_flags(self, shoal: Shoal, control: FakeControl) -> None:
        """--update-* and --rollback-* set the two configs, docker's names and units."""
        result = shoal(
            "service", "update", "-d", "--update-parallelism", "2", "--update-delay", "0s",
            "--update-monitor", "1s", "--update-failure-action", "rollback",
            "--update-max-failure-ratio", "0.25", "--update-order", "start-first",
            "--rollback-parallelism", "0", "--rollback-failure-action", "continue", "web",
        )  # fmt: skip
        assert result.code == 0
        spec = control.services[WEB_ID].spec
        assert spec.update == m.UpdateConfig(
            parallelism=2,
            delay=timedelta(0),
            monitor=timedelta(seconds=1),
            failure_action=m.FailureAction.ROLLBACK,
            max_failure_ratio=0.25,
            order=m.UpdateOrder.START_FIRST,
        )
        assert spec.rollback == m.UpdateConfig(
            parallelism=0, failure_action=m.FailureAction.CONTINUE
        )

    @pytest.mark.parametrize(
        ("flag", "value"),
        [
            ("--update-failure-action", "explode"),
            ("--rollback-failure-action", "rollback"),
            ("--update-max-failure-ratio", "2"),
            ("--update-order", "sideways"),
            ("--update-delay", "soon"),
            ("--args", "'unclosed"),
            ("--env-add", "NOEQUALS"),
        ],
    )
    def test_bad_values_are_one_line_and_write_nothing(
        self, shoal: Shoal, control: FakeControl, flag: str, value: str
    ) -> None:
        result = shoal("service", "update", "-d", flag, value, "web")
        assert result.code == 1
        assert len(result.err.splitlines()) == 1
        assert control.updates == []

    def test_dry_run_plans_and_writes_nothing(self, shoal: Shoal, control: FakeControl) -> None:
        """update --dry-run shows where the updated tasks would go; exit 2 if some would not."""
        control.plan = [(1, "h1", ""), (2, "", "no suitable node (1 node not ready)")]
        result = shoal("service", "update", "--dry-run", "--image", "nginx:2", "web")
        assert result.code == 2
        assert "web.2: no suitable node (1 node not ready)" in result.out.splitlines()
        assert "UpdateService" not in control.calls
        assert control.services[WEB_ID].spec.container.image == "nginx:1.25"

    def test_rollback_and_update_rollback(self, shoal: Shoal, control: FakeControl) -> None:
        """`service rollback` and `service update --rollback` return to the previous spec."""
        assert shoal("service", "rollback", "-d", "web").code == 0
        assert control.services[WEB_ID].spec.container.image == "nginx:1.24"
        assert shoal("service", "update", "-d", "--rollback", "web").code == 0
        assert control.services[WEB_ID].spec.container.image == "nginx:1.25"

    def test_rollback_without_a_previous_spec(self, shoal: Shoal) -> None:
        result = shoal("service", "rollback", "-d", "monitor")
        assert one_error_line(result) == "Error: no previous spec"
        assert result.code == 1

    def test_rebalance_asks_the_manager(self, shoal: Shoal, control: FakeControl) -> None:
        result = shoal("service", "rebalance", "-d", "web")
        assert (result.code, result.out) == (0, "web\n")
        assert "RebalanceService" in control.calls


class TestDryRun:
    def test_all_placed(self, shoal: Shoal, control: FakeControl) -> None:
        """--dry-run prints where each task would go, creates nothing, and exits 0."""
        control.plan = [(1, "h1", ""), (2, "h2", "")]
        result = shoal(
            "service", "create", "-d", "--dry-run", "--name", "api", "--replicas", "2", "busybox"
        )
        assert result.code == 0
        assert result.out.splitlines() == [
            "api.1: would run on h1",
            "api.2: would run on h2",
            "2 of 2 tasks would be placed; nothing was changed",
        ]
        assert "CreateService" not in control.calls

    def test_some_unplaceable(self, shoal: Shoal, control: FakeControl) -> None:
        """A task no node would take shows its reason, and the exit code is 2."""
        control.plan = [(1, "h1", ""), (2, "", "no suitable node (1 node not ready)")]
        result = shoal("service", "create", "-d", "--dry-run", "--name", "api", "busybox")
        assert result.code == 2
        assert "api.2: no suitable node (1 node not ready)" in result.out.splitlines()
        assert "CreateService" not in control.calls


class TestNodeLs:
    def test_table(self, shoal: Shoal) -> None:
        """Full node IDs, ` *` on the node the manager runs on, states and availability
        capitalised, `Leader` for the manager; sorted by hostname."""
        result = shoal("node", "ls")
        assert result.code == 0
        assert result.lines == [
            "ID                            HOSTNAME    STATUS   AVAILABILITY   MANAGER STATUS   "
            "ENGINE VERSION   SHOAL VERSION",
            f"{MANAGER_NODE} *   manager-1   Ready    Active         Leader           28.0.0"
            "           0.2.0",
            f"{WORKER_NODE}     worker-1    Down     Drain                           27.3.1",
        ]

    def test_quiet(self, shoal: Shoal) -> None:
        """`-q` prints the node IDs alone, without the ` *` marker."""
        assert shoal("node", "ls", "-q").lines == [MANAGER_NODE, WORKER_NODE]

    def test_json_lines(self, shoal: Shoal) -> None:
        """`--format json` keeps the ID clean and says which node answered in `Self`."""
        lines = shoal("node", "ls", "--format", "json").lines
        manager, worker = (json.loads(line) for line in lines)
        assert manager == {
            "ID": MANAGER_NODE,
            "Self": True,
            "Hostname": "manager-1",
            "Status": "Ready",
            "Availability": "Active",
            "ManagerStatus": "Leader",
            "EngineVersion": "28.0.0",
            "ShoalVersion": "0.2.0",
        }
        assert (worker["Self"], worker["ManagerStatus"]) == (False, "")


class TestNodeRm:
    def test_removes_each_and_prints_its_ref(self, shoal: Shoal, control: FakeControl) -> None:
        """Each removed node is printed as the user named it; --force is not sent unasked."""
        result = shoal("node", "rm", "worker-1")
        assert (result.code, result.out, result.err) == (0, "worker-1\n", "")
        assert control.node_removals == [("worker-1", False)]
        assert [n.id for n in control.nodes] == [MANAGER_NODE]

    @pytest.mark.parametrize("flag", ["-f", "--force"])
    def test_force_is_passed_through(self, shoal: Shoal, control: FakeControl, flag: str) -> None:
        """-f/--force reaches the server with each node, so a node that is up can be removed."""
        result = shoal("node", "rm", flag, "manager-1", WORKER_NODE[:8])
        assert (result.code, result.lines) == (0, ["manager-1", WORKER_NODE[:8]])
        assert control.node_removals == [("manager-1", True), (WORKER_NODE[:8], True)]
        assert control.nodes == []

    def test_refusal_is_the_servers_message(self, shoal: Shoal, control: FakeControl) -> None:
        """A node the server will not remove without --force fails with the server's words."""
        result = shoal("node", "rm", "manager-1")
        assert one_error_line(result) == "Error: node manager-1 is not down"
        assert len(control.nodes) == 2

    def test_unknown_one_is_reported_and_the_rest_removed(
        self, shoal: Shoal, control: FakeControl
    ) -> None:
        """An unknown node gets an error line on stderr; the others are still removed; exit 1."""
        result = shoal("node", "rm", "--force", "worker-1", "nope", MANAGER_NODE)
        assert one_error_line(result) == "Error: no such node: nope"
        assert result.lines == ["worker-1", MANAGER_NODE]
        assert control.nodes == []


def pretty_field(name: str, value: str) -> str:
    """A line of `node inspect --pretty`: the value where docker's tabs put it, at column 24."""
    return f"{name:<24}{value}".rstrip()


class TestNodeUpdate:
    def test_availability_sends_the_version_read_and_keeps_labels(
        self, shoal: Shoal, control: FakeControl
    ) -> None:
        """--availability sends the node's version as read and its labels unchanged (the
        server replaces them as a whole); NODE is printed as given."""
        result = shoal("node", "update", "--availability", "drain", "manager-1")
        assert (result.code, result.out, result.err) == (0, "manager-1\n", "")
        [update] = control.node_updates
        assert (update.node_id, update.version) == (MANAGER_NODE, 12)
        assert m.Availability(update.availability) is m.Availability.DRAIN
        assert dict(update.labels) == {"zone": "eu-1", "ssd": ""}
        [manager] = [n for n in control.nodes if n.id == MANAGER_NODE]
        assert (manager.availability, manager.meta.version) == (m.Availability.DRAIN, 13)

    def test_labels_are_added_then_removed(self, shoal: Shoal, control: FakeControl) -> None:
        """--label-add sets KEY=VALUE (KEY alone: an empty value) and overwrites an existing
        key; --label-rm removes, after the additions; the availability is kept."""
        result = shoal(
            "node", "update", "--label-add", "zone=eu-2", "--label-add", "gpu",
            "--label-add", "tmp=1", "--label-rm", "tmp", "--label-rm", "ssd", MANAGER_NODE[:6],
        )  # fmt: skip
        assert (result.code, result.out) == (0, f"{MANAGER_NODE[:6]}\n")
        [update] = control.node_updates
        assert (update.node_id, update.version) == (MANAGER_NODE, 12)
        assert dict(update.labels) == {"zone": "eu-2", "gpu": ""}
        assert m.Availability(update.availability) is m.Availability.ACTIVE
        [manager] = [n for n in control.nodes if n.id == MANAGER_NODE]
        assert manager.labels == {"zone": "eu-2", "gpu": ""}

    def test_removing_a_missing_label_is_an_error(self, shoal: Shoal, control: FakeControl) -> None:
        """--label-rm of a key the node does not have fails as docker's does, on one line, and
        nothing is written, not even the other changes asked for."""
        result = shoal(
            "node", "update", "--availability", "pause", "--label-rm", "zone",
            "--label-rm", "nope", "manager-1",
        )  # fmt: skip
        assert one_error_line(result) == "Error: key nope doesn't exist in node's labels"
        assert result.out == ""
        assert control.node_updates == []
        assert "UpdateNode" not in control.calls

    def test_at_least_one_change_is_needed(self, shoal: Shoal, control: FakeControl) -> None:
        """Without any flag there is nothing to update: a one-line usage error, no call."""
        result = shoal("node", "update", "manager-1")
        assert result.code == 1
        assert result.err.splitlines() == [
            "shoal: error: nothing to update: give --availability, --label-add or --label-rm"
            " (see 'shoal node update --help')"
        ]
        assert control.calls == []

    @pytest.mark.parametrize(
        ("argv", "message"),
        [
            (("--availability", "paused"), "argument --availability: invalid choice: 'paused'"),
            (("--label-add", "=x"), "argument --label-add: invalid label '=x'"),
        ],
    )
    def test_bad_values_are_usage_errors(
        self, shoal: Shoal, control: FakeControl, argv: tuple[str, ...], message: str
    ) -> None:
        """An availability other than active, pause or drain, or a label without a key, is a
        one-line usage error; nothing is sent."""
        result = shoal("node", "update", *argv, "manager-1")
        assert result.code == 1
        (line,) = result.err.splitlines()
        assert line.startswith(f"shoal: error: {message}")
        assert control.calls == []

    def test_retries_when_another_client_wrote_in_between(
        self, shoal: Shoal, control: FakeControl
    ) -> None:
        """A stale version (ABORTED) makes update read the node again and retry with the new
        version."""
        control.interlopers = 2
        result = shoal("node", "update", "--availability", "pause", "manager-1")
        assert (result.code, result.out) == (0, "manager-1\n")
        assert [u.version for u in control.node_updates] == [12, 13, 14]
        [manager] = [n for n in control.nodes if n.id == MANAGER_NODE]
        assert manager.availability is m.Availability.PAUSE

    def test_gives_up_after_a_few_conflicts(self, shoal: Shoal, control: FakeControl) -> None:
        """When every attempt is beaten by another writer, update fails with the server's one
        line and the node keeps its availability."""
        control.interlopers = cas.ATTEMPTS
        result = shoal("node", "update", "--availability", "pause", "manager-1")
        assert one_error_line(result) == (
            "Error: node manager-1 was changed meanwhile; read it and retry"
        )
        assert len(control.node_updates) == cas.ATTEMPTS
        [manager] = [n for n in control.nodes if n.id == MANAGER_NODE]
        assert manager.availability is m.Availability.ACTIVE

    def test_unknown_node(self, shoal: Shoal, control: FakeControl) -> None:
        """An unknown node fails with one line and nothing is written."""
        result = shoal("node", "update", "--availability", "drain", "nope")
        assert one_error_line(result) == "Error: no such node: nope"
        assert (result.out, control.node_updates) == ("", [])


class TestNodeInspect:
    def test_document(self, shoal: Shoal) -> None:
        """A JSON array with docker's layout: Version.Index, RFC 3339 times, Spec with sorted
        Labels, lower-case Role and Availability, Description, Status with a lower-case
        State."""
        result = shoal("node", "inspect", "manager-1", WORKER_NODE[:5])
        assert result.code == 0
        manager, worker = json.loads(result.out)
        assert set(manager) == {
            "ID", "Version", "CreatedAt", "UpdatedAt", "Spec", "Description", "Status",
        }  # fmt: skip
        assert manager["ID"] == MANAGER_NODE
        assert manager["Version"] == {"Index": 12}
        assert manager["CreatedAt"] == "2024-05-16T22:52:44.991066Z"
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", manager["UpdatedAt"])
        assert manager["Spec"] == {
            "Labels": {"ssd": "", "zone": "eu-1"},
            "Role": "manager",
            "Availability": "active",
        }
        assert list(manager["Spec"]["Labels"]) == ["ssd", "zone"]
        assert manager["Description"] == {
            "Hostname": "manager-1",
            "Platform": {"Architecture": "x86_64", "OS": "linux"},
            "Resources": {"NanoCPUs": 4_000_000_000, "MemoryBytes": 8_271_880_192},
            "Engine": {"EngineVersion": "28.0.0"},
            "Shoal": {"Version": "0.2.0", "Protocol": 2},
        }
        assert manager["Status"] == {"State": "ready", "Message": "", "Addr": "10.0.0.1"}
        assert worker["ID"] == WORKER_NODE
        assert (worker["Spec"]["Role"], worker["Spec"]["Availability"]) == ("worker", "drain")
        assert worker["Spec"]["Labels"] == {}
        assert worker["Status"] == {"State": "down", "Message": "heartbeat failure", "Addr": ""}

    def test_self_is_the_node_of_the_manager_answering(self, shoal: Shoal) -> None:
        """`self` names the node the answering manager runs on."""
        result = shoal("node", "inspect", "self")
        assert [node["ID"] for node in json.loads(result.out)] == [MANAGER_NODE]

    def test_pretty(self, shoal: Shoal) -> None:
        """--pretty: docker's human layout, values aligned at column 24; labels sorted, a bare
        key for an empty value; the time as Go prints it; memory in binary units."""
        result = shoal("node", "inspect", "--pretty", "manager-1")
        assert result.code == 0
        assert result.lines == [
            pretty_field("ID:", MANAGER_NODE),
            "Labels:",
            " - ssd",
            " - zone=eu-1",
            pretty_field("Hostname:", "manager-1"),
            pretty_field("Joined at:", "2024-05-16 22:52:44.991066 +0000 UTC"),
            "Status:",
            pretty_field(" State:", "Ready"),
            pretty_field(" Availability:", "Active"),
            pretty_field(" Address:", "10.0.0.1"),
            "Platform:",
            pretty_field(" Operating System:", "linux"),
            pretty_field(" Architecture:", "x86_64"),
            "Resources:",
            pretty_field(" CPUs:", "4"),
            pretty_field(" Memory:", "7.704GiB"),
            pretty_field("Engine Version:", "28.0.0"),
            pretty_field("Shoal Version:", "0.2.0"),
        ]
        assert result.lines[0] == f"ID:                     {MANAGER_NODE}"

    def test_pretty_leaves_out_what_is_unset(self, shoal: Shoal) -> None:
        """Without labels or an address those lines are left out; a status message is shown;
        several nodes are separated by a blank line."""
        lines = shoal("node", "inspect", "--pretty", "manager-1", "worker-1").lines
        blank = lines.index("")
        assert lines[blank + 1 :] == [
            pretty_field("ID:", WORKER_NODE),
            pretty_field("Hostname:", "worker-1"),
            pretty_field("Joined at:", "2024-05-16 22:52:44.991066 +0000 UTC"),
            "Status:",
            pretty_field(" State:", "Down"),
            pretty_field(" Message:", "Heartbeat failure"),
            pretty_field(" Availability:", "Drain"),
            "Platform:",
            " Operating System:",
            " Architecture:",
            "Resources:",
            pretty_field(" CPUs:", "0"),
            " Memory:",
            pretty_field("Engine Version:", "27.3.1"),
            "Shoal Version:",
        ]

    @pytest.mark.parametrize("pretty", [(), ("--pretty",)])
    def test_unknown_node(self, shoal: Shoal, pretty: tuple[str, ...]) -> None:
        """Any unknown node fails the command with one line and prints nothing."""
        result = shoal("node", "inspect", *pretty, "manager-1", "nope")
        assert one_error_line(result) == "Error: no such node: nope"
        assert result.out == ""


class TestNodePs:
    def test_defaults_to_self(self, shoal: Shoal, control: FakeControl) -> None:
        """Without NODE, the tasks of the node the answering manager runs on, with the columns
        and order of `service ps`."""
        result = shoal("node", "ps")
        assert result.code == 0
        assert result.lines == [
            "ID             NAME                                IMAGE                NODE        "
            "DESIRED STATE   CURRENT STATE           ERROR   PORTS",
            f"taskmon10000   monitor.{MANAGER_NODE}   prom/node-exporter   manager-1   "
            "Running         Running 2 hours ago",
            "task1new0000   web.1                               nginx:1.25           manager-1   "
            "Running         Running 3 minutes ago",
        ]
        assert control.calls == ["ListNodes", "ListTasks"]

    def test_each_node_in_turn(self, shoal: Shoal) -> None:
        """Several nodes: each node's tasks in turn, in the order given, under one header; a
        slot seen on an earlier node is not indented as its history."""
        result = shoal("node", "ps", "worker-1", "self")
        assert result.code == 0
        assert [line.split()[:2] for line in result.lines[1:]] == [
            ["taskmon20000", f"monitor.{WORKER_NODE}"],
            ["task1old0000", "web.1"],
            ["taskmon10000", f"monitor.{MANAGER_NODE}"],
            ["task1new0000", "web.1"],
        ]
        assert result.lines[2].endswith('Failed 40 minutes ago   "task: non-zero exit (137): ki…"')

    def test_quiet_no_trunc_and_json(self, shoal: Shoal) -> None:
        """-q prints the task IDs alone, in full with --no-trunc; --format json one object per
        task with `service ps`'s keys."""
        quiet = shoal("node", "ps", "-q", "--no-trunc", WORKER_NODE)
        assert quiet.lines == [MONITOR_ON_WORKER, "task1old0000000000000000a"]
        records = [json.loads(line) for line in shoal("node", "ps", "--format", "json").lines]
        assert [(r["ID"], r["Name"], r["Node"]) for r in records] == [
            ("taskmon10000", f"monitor.{MANAGER_NODE}", "manager-1"),
            ("task1new0000", "web.1", "manager-1"),
        ]
        assert set(records[0]) == {
            "ID", "Name", "Image", "Node", "DesiredState", "CurrentState", "Error", "Ports",
        }  # fmt: skip

    def test_unknown_node_is_reported_and_the_rest_listed(self, shoal: Shoal) -> None:
        """An unknown node gets an error line; the other nodes' tasks are still listed; exit
        1."""
        result = shoal("node", "ps", "-q", "nope", "worker-1")
        assert one_error_line(result) == "Error: no such node: nope"
        assert result.lines == ["taskmon20000", "task1old0000"]

    def test_only_unknown_nodes_print_no_table(self, shoal: Shoal) -> None:
        """When no node could be listed there is no empty table, only the error."""
        result = shoal("node", "ps", "nope")
        assert one_error_line(result) == "Error: no such node: nope"
        assert result.out == ""


class TestJoinToken:
    @pytest.mark.parametrize("role", ["worker", "manager"])
    def test_instructions(self, shoal: Shoal, control: FakeControl, role: str) -> None:
        """Without -q, the command to run on the new node, with its token and the manager."""
        result = shoal("join-token", role)
        assert result.code == 0
        assert result.out == (
            f"To add a {role} to this cluster, run the following command:\n\n"
            f"    agent join SHOAL-1-{role} 10.0.0.1:7462\n"
        )
        assert control.token_requests == [(m.NodeRole[role.upper()], False)]

    def test_quiet(self, shoal: Shoal) -> None:
        """`-q` prints the token alone."""
        assert shoal("join-token", "-q", "worker").out == "SHOAL-1-worker\n"

    @pytest.mark.parametrize("role", ["worker", "manager"])
    def test_rotate(self, shoal: Shoal, control: FakeControl, role: str) -> None:
        """--rotate asks the server to rotate, says so as docker does, then shows the new token."""
        result = shoal("join-token", "--rotate", role)
        assert result.code == 0
        assert result.out == (
            f"Successfully rotated {role} join token.\n\n"
            f"To add a {role} to this cluster, run the following command:\n\n"
            f"    agent join SHOAL-1-{role}-1 10.0.0.1:7462\n"
        )
        assert control.token_requests == [(m.NodeRole[role.upper()], True)]

    def test_quiet_rotate_prints_only_the_new_token(
        self, shoal: Shoal, control: FakeControl
    ) -> None:
        """`-q --rotate` rotates and prints the new token alone."""
        result = shoal("join-token", "-q", "--rotate", "manager")
        assert (result.code, result.out) == (0, "SHOAL-1-manager-1\n")
        assert control.token_requests == [(m.NodeRole.MANAGER, True)]

    def test_role_is_required_and_checked(self, shoal: Shoal, control: FakeControl) -> None:
        """An unknown role is a usage error; nothing is asked of the server."""
        result = shoal("join-token", "admin")
        assert result.code == 1
        assert "invalid choice: 'admin'" in result.err.splitlines()[0]
        assert control.calls == []


def place(bundle: Path, directory: Path) -> Path:
    shutil.copytree(bundle, directory)
    return directory


def partial(directory: Path, source: Path) -> Path:
    """A directory with the CA certificate alone, as after an interrupted copy."""
    directory.mkdir(parents=True)
    shutil.copy(source / tls.CA_FILE, directory)
    return directory


class TestBundleSearch:
    """Which bundle directory the client presents. The bundle that should lose is always one
    from another cluster, so picking it would fail the TLS handshake."""

    @pytest.mark.parametrize(
        ("flag", "env", "home", "manager"),
        [
            ("admin", "foreign", "foreign", "foreign"),
            (None, "admin", "foreign", "foreign"),
            (None, None, "admin", "foreign"),
            (None, None, None, "admin"),
            (None, None, "partial", "admin"),
        ],
        ids=[
            "--config beats $SHOAL_CONFIG",
            "$SHOAL_CONFIG beats ~/.shoal",
            "~/.shoal beats the manager's",
            "the manager's admin dir last",
            "an incomplete ~/.shoal is passed over",
        ],
    )
    def test_order(
        self,
        control: FakeControl,
        certificates: Certificates,
        places: Places,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
        flag: str | None,
        env: str | None,
        home: str | None,
        manager: str | None,
    ) -> None:
        """--config, then $SHOAL_CONFIG, then ~/.shoal, then the manager's admin directory: the
        first complete one is used."""
        bundles = {"admin": certificates.admin, "foreign": certificates.foreign}

        def fill(choice: str | None, directory: Path) -> Path:
            if choice == "partial":
                return partial(directory, certificates.admin)
            if choice is not None:
                place(bundles[choice], directory)
            return directory

        config = None if flag is None else fill(flag, tmp_path / "flag")
        if env is not None:
            monkeypatch.setenv(connection.CONFIG_ENV, str(fill(env, tmp_path / "env")))
        fill(home, places.home_config)
        fill(manager, places.manager_admin)
        result = Shoal(capsys, control.address, config)("service", "ls", "-q")
        assert (result.code, result.lines, result.err) == (0, [MONITOR_ID, WEB_ID], "")

    @pytest.mark.parametrize("source", ["--config", "$SHOAL_CONFIG"])
    def test_a_named_directory_must_be_complete(
        self,
        control: FakeControl,
        certificates: Certificates,
        places: Places,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
        source: str,
    ) -> None:
        """An incomplete directory given by --config or $SHOAL_CONFIG is an error naming it,
        even when ~/.shoal holds a good bundle; nothing is sent."""
        named = partial(tmp_path / "named", certificates.admin)
        place(certificates.admin, places.home_config)
        if source == "--config":
            shoal = Shoal(capsys, control.address, named)
        else:
            monkeypatch.setenv(connection.CONFIG_ENV, str(named))
            shoal = Shoal(capsys, control.address)
        result = shoal("node", "ls")
        assert one_error_line(result) == (
            f"Error: no complete certificate bundle (ca.pem, cert.pem, key.pem) in {named},"
            f" given by {source}"
        )
        assert control.calls == []

    def test_none_anywhere(
        self, control: FakeControl, places: Places, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """With no bundle anywhere: one line that names the places searched and how to get a
        bundle; nothing is sent."""
        result = Shoal(capsys, control.address)("node", "ls")
        assert one_error_line(result) == (
            f"Error: no certificate bundle in {places.home_config} or {places.manager_admin}:"
            f" copy <manager state dir>/admin/ (default {places.manager_admin}) from the manager"
            " host to ~/.shoal, or pass --config DIR"
        )
        assert control.calls == []

    def test_unreadable_directory(
        self,
        control: FakeControl,
        certificates: Certificates,
        places: Places,
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """A directory on the search path the user may not read (the manager's, as a plain
        user) is one line naming it, not a traceback."""
        place(certificates.admin, places.manager_admin)
        present = Bundle.present

        def denied(directory: Path) -> bool:
            # What a plain user meets in root's 0700 state dir; tests run as root, so the
            # refusal is made here rather than by file modes.
            if directory == places.manager_admin:
                raise PermissionError(13, "Permission denied", str(directory))
            return present(directory)

        monkeypatch.setattr(Bundle, "present", staticmethod(denied))
        result = Shoal(capsys, control.address)("node", "ls")
        assert one_error_line(result) == (
            f"Error: cannot read the certificate bundle in {places.manager_admin}:"
            " permission denied"
        )


class TestTls:
    def test_bundle_from_another_cluster(
        self, control: FakeControl, certificates: Certificates, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A bundle whose CA did not sign the manager's certificate fails the handshake: one
        line that says so and names the bundle, without any of its contents."""
        result = Shoal(capsys, control.address, certificates.foreign)("node", "ls")
        assert one_error_line(result) == (
            f"Error: TLS handshake with the manager at {control.address} failed:"
            f" is the bundle in {certificates.foreign} from this cluster?"
        )
        assert "BEGIN" not in result.err
        assert control.calls == []

    def test_certificate_refused_by_the_manager(
        self, control: FakeControl, certificates: Certificates, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A client certificate the manager's CA did not issue is refused (after the handshake,
        under TLS 1.3); it gets the same message as a wrong CA."""
        result = Shoal(capsys, control.address, certificates.stranger)("node", "ls")
        assert one_error_line(result) == (
            f"Error: TLS handshake with the manager at {control.address} failed:"
            f" is the bundle in {certificates.stranger} from this cluster?"
        )
        assert control.calls == []

    def test_address_the_certificate_does_not_name(
        self, certificates: Certificates, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Calling the manager at an address its certificate does not name says so, and how to
        call it instead."""
        fake = FakeControl()
        with serving(fake, certificates.localhost_only):
            result = Shoal(capsys, fake.address, certificates.admin)("node", "ls")
        assert one_error_line(result) == (
            f"Error: the manager's certificate does not name {fake.address}:"
            " use -H with the address or hostname the manager advertises"
        )
        assert fake.calls == []

    def test_worker_certificate_gets_the_servers_refusal(
        self, control: FakeControl, certificates: Certificates, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """PERMISSION_DENIED from the manager is shown in its own words, on one line."""
        result = Shoal(capsys, control.address, certificates.worker)("node", "ls")
        assert one_error_line(result) == ("Error: a worker certificate cannot use the control API")
        assert control.calls == []


class TestFailures:
    def test_unreachable_manager(
        self, certificates: Certificates, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A closed port fails quickly with one line naming the address tried."""
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            address = f"127.0.0.1:{probe.getsockname()[1]}"
        started = time.monotonic()
        result = Shoal(capsys, address, certificates.admin)("service", "ls")
        assert time.monotonic() - started < 5
        assert one_error_line(result) == (
            f"Error: cannot reach the manager at {address} (is manager serve running?)"
        )
        assert result.out == ""

    def test_deadline(self, control: FakeControl, certificates: Certificates) -> None:
        """A manager that accepts the call but never answers fails it at the deadline."""
        control.slow = True
        endpoint = Endpoint(control.address, certificates.admin)
        with connection.open_channel(endpoint) as channel:
            client = Client(channel, endpoint, deadline=0.2)
            started = time.monotonic()
            with pytest.raises(Unavailable, match=r"cannot reach the manager at 127\.0\.0\.1:"):
                client.list_nodes()
        assert time.monotonic() - started < 5

    def test_interrupt(self, shoal: Shoal, monkeypatch: pytest.MonkeyPatch) -> None:
        """Ctrl-C during a call exits with 130 and no traceback."""

        def interrupted(self: Client) -> None:
            raise KeyboardInterrupt

        monkeypatch.setattr(Client, "list_nodes", interrupted)
        result = shoal("node", "ls")
        assert (result.code, result.out, result.err) == (130, "", "")

    def test_usage_error_is_one_line_and_a_hint(self, shoal: Shoal) -> None:
        """A missing subcommand gives `shoal: error: ...` and where to find help; exit 1."""
        result = shoal("service")
        assert result.code == 1
        assert result.err.splitlines() == [
            "shoal: error: the following arguments are required: COMMAND"
            " (see 'shoal service --help')"
        ]

    def test_host_from_the_environment(
        self,
        control: FakeControl,
        certificates: Certificates,
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """Without --host, SHOAL_HOST names the manager."""
        monkeypatch.setenv("SHOAL_HOST", control.address)
        result = Shoal(capsys, config=certificates.admin)("service", "ls", "-q")
        assert result.lines == [MONITOR_ID, WEB_ID]


class TestPlacementPreferences:
    def test_create_and_update_preferences(self, shoal: Shoal, control: FakeControl) -> None:
        """--placement-pref spread=node.labels.zone is stored; update can remove and add."""
        result = shoal(
            "service", "create", "-d", "--name", "spread",
            "--placement-pref", "spread=node.labels.zone", "busybox",
        )  # fmt: skip
        assert result.code == 0
        [created] = [s for s in control.services.values() if s.spec.name == "spread"]
        assert created.spec.placement.spread == ("node.labels.zone",)
        assert (
            shoal(
                "service", "update", "-d", "--placement-pref-add", "spread=node.labels.rack", "web"
            ).code
            == 0
        )
        assert control.services[WEB_ID].spec.placement.spread == ("node.labels.rack",)

    @pytest.mark.parametrize("value", ["binpack=node.labels.zone", "spread=zone", "spread="])
    def test_bad_preference(self, shoal: Shoal, control: FakeControl, value: str) -> None:
        """Only spread=node.labels.KEY is understood: anything else is a usage error."""
        result = shoal("service", "create", "-d", "--placement-pref", value, "busybox")
        assert result.code == 1
        assert control.calls == []
