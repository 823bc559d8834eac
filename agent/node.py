"""This host's node as its agent runs it (NodeAgent): the session with the manager (connect,
hello, heartbeats and status up, assignments down), the worker, the engine's events, its
certificate (agent/renewal.py), and the mesh and networks it is handed.

The session is retried forever with backoff; the containers keep running while the manager is
away, and reports made meanwhile are sent once a session is back.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import structlog

from agent import session_messages
from agent.logs import LogStreams
from agent.manager_channel import FATAL, log_publisher
from agent.managers import Managers
from agent.mesh.sync import MeshSync
from agent.metrics import AgentMetrics
from agent.netfilter_guard import NetfilterGuard, Part
from agent.overlay.node_networks import NodeNetworks
from agent.renewal import Renewal
from agent.runtime.base import ContainerRuntime
from agent.runtime.instrumented import InstrumentedRuntime
from agent.task_files import TaskFiles, files_dir
from agent.teardown import HostCleanup, Teardown
from agent.worker import Worker
from common import convert
from common.api import dispatcher_pb2 as dpb
from common.api import dispatcher_pb2_grpc
from common.backoff import Backoff
from common.errors import NodePromoted, NodeRemoved, ShoalError
from common.grpc_errors import from_rpc_error
from common.model import FileData, NodeDescription, RegistryAuth, Resources, Task, TaskStatus
from common.tls import Bundle
from common.version import PROTOCOL, VERSION

log = structlog.get_logger("agent")

# The longest wait between two tries to open a session, unless the manager gives a longer
# window to come back within (a large cluster).
SESSION_RETRY_CAP = 2.0


class NodeAgent:
    def __init__(
        self,
        node_id: str,
        manager: str,
        runtime: ContainerRuntime,
        hostname: str,
        bundle: Bundle,
        state_dir: Path,
        ingress: MeshSync | None = None,
        networks: NodeNetworks | None = None,
        data_addr: str = "",
        metrics: AgentMetrics | None = None,
        host_networking: HostCleanup | None = None,
        files: TaskFiles | None = None,
    ) -> None:
        """ingress: the routing mesh on this host; None leaves the host's netfilter alone.
        host_networking: removes the node's networks from the host once the node is removed;
        None on a host shared with other nodes. files: where the tasks' secrets and configs
        go (default: a tmpfs at files_dir(node_id))."""
        files = files or TaskFiles(files_dir(node_id))
        self.metrics = metrics or AgentMetrics()
        runtime = InstrumentedRuntime(runtime, self.metrics)
        self.node_id = node_id
        self.managers = Managers(state_dir, manager)
        self._runtime = runtime
        self._hostname = hostname
        self._period = 1.0
        # The window the manager gave for coming back after a lost session (its cluster's size).
        self._reconnect_within = 0.0
        self._pending: dict[str, TaskStatus] = {}
        # Why the engine does not answer, while it does not: the node reports itself not ready.
        self._engine_error = ""
        self._data_addr = data_addr
        self._description = NodeDescription(
            hostname=hostname, version=VERSION, protocol=PROTOCOL, data_addr=data_addr
        )
        self._pending_ready = asyncio.Event()
        self.ingress = ingress
        self._networks = networks
        if ingress is not None:
            ingress.metrics = self.metrics
        if networks is not None:
            networks.observe(self.metrics)
        self._sessions = 0
        self.worker = Worker(
            node_id,
            runtime,
            self._queue_report,
            hostname,
            attach=networks.attach if networks is not None else None,
            files=files,
        )
        self.connected = asyncio.Event()
        # Whether the manager took the current session: its settings came.
        self._accepted = False
        self._log = log.bind(node_id=node_id)
        self._renewal = Renewal(bundle, state_dir, self.managers, self._log)
        self._teardown = Teardown(node_id, runtime, state_dir, ingress, host_networking, files)
        # The host's netfilter is this agent's to keep when it runs the mesh.
        self.guard = (
            NetfilterGuard(ingress.tables.save, _guarded(ingress, networks), ingress.tables.changes)
            if ingress is not None
            else None
        )

    def _queue_report(self, task_id: str, status: TaskStatus) -> None:
        self.metrics.task_transitions.labels(status.state.name.lower()).inc()
        self._pending[task_id] = status
        self._pending_ready.set()

    async def run(self) -> None:
        """Run until cancelled; raises ShoalError when the manager refuses this node for good,
        and NodeRemoved, once the host is cleared, when the manager says it was removed."""
        await self._load_engine()
        fatal: ShoalError | None = None
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._follow_engine())
                group.create_task(self._renewal.keep_fresh())
                if self.ingress is not None:
                    group.create_task(self.ingress.run())
                if self._networks is not None:
                    group.create_task(self._networks.run())
                if self.guard is not None:
                    group.create_task(self.guard.run())
                await self._hold_sessions()
        except* ShoalError as failed:
            # The reason itself, not a group of one: callers report it as one line.
            first = failed.exceptions[0]
            assert isinstance(first, ShoalError)
            fatal = first
        finally:
            await self._renewal.close()
        if isinstance(fatal, NodeRemoved):
            raise await self._leave_host()
        if fatal is not None:
            raise fatal

    async def _leave_host(self) -> NodeRemoved:
        """The node is out of the cluster: nothing of it stays on the host to run unmanaged."""
        self._log.warning("node removed from the cluster: removing " + self._teardown.removes)
        await self.worker.stop()
        failed = await self._teardown.run()
        if failed:
            return NodeRemoved(
                "this node was removed from the cluster, but removing "
                + "; ".join(failed)
                + " failed: `agent leave --force` finishes it"
            )
        return NodeRemoved(
            f"this node was removed from the cluster; {self._teardown.removes} are gone:"
            " join it again with a token"
        )

    @property
    def manager(self) -> str:
        """The manager the session goes to (or is with)."""
        return self.managers.target

    async def _load_engine(self) -> None:
        backoff = Backoff(0.1, 2.0)
        while True:
            try:
                await self.worker.load()
                return
            except Exception as exc:
                self._log.warning("engine not answering", error=str(exc))
                await asyncio.sleep(backoff.next_delay())

    async def _describe(self) -> NodeDescription:
        """What the node is, as the engine says; the last answer while the engine is away."""
        try:
            info = await self._runtime.info()
        except ShoalError as exc:
            self._engine_state(str(exc) or "the engine does not answer")
            return self._description
        self._description = NodeDescription(
            hostname=self._hostname,
            engine_version=info.version,
            engine_id=info.id,
            resources=Resources(nano_cpus=info.nano_cpus, memory_bytes=info.memory_bytes),
            os=info.os,
            arch=info.arch,
            version=VERSION,
            protocol=PROTOCOL,
            data_addr=self._data_addr,
        )
        return self._description

    async def _follow_engine(self) -> None:
        backoff = Backoff(0.1, 2.0)
        resync = False
        while True:
            # Events since a second before the listing are replayed, so none falls in between.
            since = int(time.time()) - 1
            try:
                if resync:
                    await self.worker.resync()
                    self._engine_state("")
                async for event in self._runtime.events(self.node_id, since):
                    backoff.reset()
                    await self.worker.container_changed(
                        event.container_id, event.task_id, event.action
                    )
            except Exception as exc:
                # Whatever the engine or its client throws, the agent must outlive it.
                self._log.warning("engine event stream lost", error=str(exc))
                try:
                    await self._runtime.info()
                except Exception as down:
                    self._engine_state(str(down) or "the engine does not answer")
            resync = True
            await asyncio.sleep(backoff.next_delay())

    def _engine_state(self, error: str) -> None:
        if error == self._engine_error:
            return
        self._engine_error = error
        if error:
            self._log.error("docker engine not answering: node not ready", error=error)
        else:
            self._log.info("docker engine answering again")
        # Say so now, not at the next heartbeat.
        self._pending_ready.set()

    async def _hold_sessions(self) -> None:
        """Sessions until a fatal answer; agent/managers.py says which manager each goes to
        and when a failed one is followed by another at once rather than after a backoff."""
        backoff = Backoff(0.1, SESSION_RETRY_CAP)
        # Failed tries since the last session: the first of an outage is a warning, the
        # retries after it are not (thousands of nodes log each one while a manager restarts).
        failures = 0
        while True:
            lost = False
            self._accepted = False
            try:
                await self._session(backoff)
                lost = self.connected.is_set()
                if lost:
                    failures = 0
                self._log.warning("session ended by the manager", manager=self.manager)
                self.managers.restart()
            except grpc.aio.AioRpcError as exc:
                if exc.code() in FATAL:
                    raise from_rpc_error(exc) from None
                self.metrics.session_failures.inc()
                failed = self.manager
                lost = self.connected.is_set()
                self.connected.clear()
                if self.managers.failed(exc, was_up=lost):
                    self._log.info("trying another manager", failed=failed, next=self.manager)
                    continue
                failures = 1 if lost else failures + 1
                (self._log.warning if failures == 1 else self._log.info)(
                    "manager unreachable",
                    manager=failed,
                    code=exc.code().name,
                    details=exc.details(),
                    tries=failures,
                )
                await self._renewal.check_root()
            self.connected.clear()
            if lost or self._accepted:
                # At once, once the manager took the session (its settings came, even if the
                # full assignment set did not): a session lost alone (the manager still there)
                # is back before the manager takes the node for down, 3 of its base heartbeat
                # period after the node answered (manager/dispatcher/liveness.py). If the
                # manager is gone, this try fails and the retries spread over the window it
                # gave (Backoff.widen).
                continue
            cap = max(self.managers.longest_wait, self._reconnect_within)
            await asyncio.sleep(min(backoff.next_delay(), cap))

    async def _session(self, backoff: Backoff) -> None:
        description = await self._describe()
        channel = await self._renewal.session_channel()
        async with LogStreams(self._runtime, log_publisher(channel)) as logs:
            stub = dispatcher_pb2_grpc.DispatcherStub(channel)
            call = stub.Session(self._outgoing(description))
            # The assignments received of a set still coming, and whether it is a full one.
            held: tuple[list[Task], bool] = ([], False)
            files: list[FileData] = []
            auths: dict[str, RegistryAuth] = {}
            async for msg in call:
                kind = msg.WhichOneof("kind")
                if kind == "settings":
                    self._accepted = True
                    self._renewal.told(msg.settings)
                    self._period = max(0.05, msg.settings.heartbeat_period_ms / 1000)
                    self._reconnect_within = msg.settings.reconnect_within_ms / 1000
                    backoff.widen(self._reconnect_within)
                    backoff.reset()
                    # A beat now: the wait under way may be one of the old period, longer than
                    # the manager allows when its period is shorter than the one assumed.
                    self._pending_ready.set()
                elif kind == "assignments":
                    a = msg.assignments
                    if a.full:
                        held, files = ([], True), []
                    held[0].extend(convert.task_from_pb(t) for t in a.tasks)
                    files.extend(convert.file_data_from_pb(f) for f in a.files)
                    for given in a.registry_auths:
                        auths[given.service_id] = convert.registry_auth_from_pb(given.auth)
                    if a.more:
                        # A set in several messages is acted on whole: a full set in part
                        # would have the worker remove the containers of the rest.
                        continue
                    tasks, full = held
                    held = ([], False)
                    self.worker.assign(tasks, a.removed, full=full, files=files, auths=auths)
                    files, auths = [], {}
                    if full:
                        self._sessions += 1
                        if self._sessions > 1:
                            self.metrics.reconnects.inc()
                        self._log.info("session established", tasks=len(tasks))
                        self._renewal.reached()
                        self.connected.set()
                elif kind == "ingress" and self.ingress is not None:
                    view = msg.ingress
                    self.ingress.apply(
                        session_messages.ingress_ports(view), view.removed, full=view.full
                    )
                elif kind == "subscribe_logs":
                    logs.subscribe(convert.subscribe_logs_from_pb(msg.subscribe_logs))
                elif kind == "cancel_logs":
                    await logs.cancel(msg.cancel_logs.subscription_id)
                elif kind == "network_view" and self._networks is not None:
                    self._networks.apply(convert.network_view_from_pb(msg.network_view))
                elif kind == "managers":
                    self.managers.update(msg.managers.addrs)
                elif kind == "promoted":
                    # The containers keep running: the manager process adopts them.
                    raise NodePromoted("this node was promoted to a manager")
                elif kind == "removed":
                    # Said only by the manager of this node's cluster (the session is mutual
                    # TLS), never inferred from a manager that is away or a session replaced.
                    raise NodeRemoved("this node was removed from the cluster")

    async def _outgoing(self, description: NodeDescription) -> AsyncIterator[dpb.AgentMessage]:
        hello = dpb.Hello(description=convert.description_to_pb(description))
        yield dpb.AgentMessage(hello=hello)
        while True:
            try:
                # Not wait_for: on 3.11 it can swallow the cancel that stops this loop.
                async with asyncio.timeout(self._period):
                    await self._pending_ready.wait()
            except TimeoutError:
                yield dpb.AgentMessage(heartbeat=dpb.Heartbeat(engine_error=self._engine_error))
                continue
            self._pending_ready.clear()
            if not self._pending:
                yield dpb.AgentMessage(heartbeat=dpb.Heartbeat(engine_error=self._engine_error))
                continue
            batch, self._pending = self._pending, {}
            for updates in session_messages.status_chunks(batch):
                yield dpb.AgentMessage(status=dpb.StatusBatch(updates=updates))


def _guarded(ingress: MeshSync, networks: NodeNetworks | None) -> list[Part]:
    parts = [Part("mesh", ingress.expected, ingress.restore)]
    if networks is not None:
        parts.append(Part("networks", networks.expected, networks.restore))
    return parts
