"""The Dispatcher gRPC service: each node holds one session stream and renews its certificate."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any

import grpc
import structlog

from common import convert, pki
from common.api import dispatcher_pb2 as pb
from common.api import dispatcher_pb2_grpc
from common.api import logs_pb2 as lpb
from common.errors import (
    Conflict,
    NodePromoted,
    NodeRemoved,
    PermissionDenied,
    ShoalError,
    Unavailable,
)
from common.grpc_errors import code_for, unary_errors
from common.logs import LogRequest
from common.mesh_view import IngressPort
from common.model import Node, NodeRole, NodeState, Task
from common.netaddr import peer_host
from common.netview import NetworkView
from common.tls import peer_subject
from manager import registry_auth
from manager.auth import Authenticator
from manager.data_key import DataKey
from manager.dispatcher import chunks, session_messages, session_reader
from manager.dispatcher.admission import Admission, Turn
from manager.dispatcher.assignment_events import assigned, assignment_changed, promoted
from manager.dispatcher.data_address import LocalNode, data_address
from manager.dispatcher.files import FileSource
from manager.dispatcher.hostnames import HostnameIndex, check_hostname_free
from manager.dispatcher.intake import check_description
from manager.dispatcher.leader_only import manager_list, refuse
from manager.dispatcher.liveness import MISSED_BEATS, Liveness, Period
from manager.dispatcher.loop_lag import LoopLag
from manager.dispatcher.mesh_feed import MeshFeed
from manager.dispatcher.outbox import Outbox
from manager.dispatcher.pace import Pace
from manager.dispatcher.silence import Silence
from manager.dispatcher.status import StatusIntake
from manager.dispatcher.versions import check_agent
from manager.leadership import ManagerSet
from manager.logbroker import LogBroker
from manager.metrics import ManagerMetrics
from manager.networks.views import NetworkViews
from manager.store import Action, Delete, Op, Put, ReadView, StateStore
from manager.trust import ClusterTrust

log = structlog.get_logger("dispatcher")

Context = grpc.aio.ServicerContext[pb.AgentMessage, pb.ManagerMessage]


class Dispatcher(dispatcher_pb2_grpc.DispatcherServicer):
    def __init__(
        self,
        store: StateStore,
        heartbeat_period: float,
        trust: ClusterTrust,
        cluster_id: str,
        cert_lifetime: timedelta,
        ingress: MeshFeed | None = None,
        local: LocalNode | None = None,
        metrics: ManagerMetrics | None = None,
        *,
        data_key: DataKey,
        managers: ManagerSet,
    ) -> None:
        """local: the manager's own node, the one node whose data address is not where its
        session comes from (it dials over loopback); data_key: what opens the secrets and
        configs tasks reference; managers: only the leader holds sessions, and each session is
        told where the managers are."""
        self._store = store
        self._files = FileSource(store, data_key)
        self._registry_auth = registry_auth.Lookup(store, data_key)
        self._managers = managers
        self._local = local
        self._metrics = metrics or ManagerMetrics()
        self._metrics.sessions.set_function(lambda: len(self._outboxes))
        self._trust = trust
        self._cluster_id = cluster_id
        self._cert_lifetime = cert_lifetime
        self._auth = Authenticator(store, cluster_id)
        self._lag = LoopLag()
        self._liveness = Liveness(store, heartbeat_period, self._lag)
        self._admission = Admission(self._liveness)
        self._metrics.returning.set_function(lambda: len(self._liveness.returning()))
        self._silence = Silence(self._lag, self._liveness.returning)
        self._status = StatusIntake(store)
        self._outboxes: dict[str, Outbox] = {}
        self._hostnames = HostnameIndex(store.objects(Node))
        self.logs = LogBroker(store)
        self.ingress = ingress or MeshFeed(store)
        self.networks = NetworkViews(store)

    async def run(self) -> None:
        """The dispatcher's background work, on every manager (its views stay warm on a
        follower, which has no sessions); runs until cancelled."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self._status.run())
            group.create_task(self._route_assignments())
            group.create_task(self.ingress.run())
            group.create_task(self.networks.run())

    async def _route_assignments(self) -> None:
        # Read and subscribed with no await between: the index misses no change.
        watch = self._store.watch()
        self._hostnames = HostnameIndex(self._store.objects(Node))
        try:
            while True:
                for event in await watch.next_batch():
                    self._hostnames.follow(event)
                    if isinstance(event.obj, Node) and event.action is Action.DELETE:
                        self._close_session(event.obj.id)
                        continue
                    if isinstance(event.obj, Node) and promoted(event):
                        self._close_session(event.obj.id, promoted=True)
                        continue
                    if not isinstance(event.obj, Task) or not assignment_changed(event):
                        continue
                    task = event.obj
                    old = event.old if isinstance(event.old, Task) else None
                    if old is not None and old.node_id and old.node_id != task.node_id:
                        self._deliver(old.node_id, event.revision, task.id, None)
                    if task.node_id:
                        deleted = event.action is Action.DELETE or not assigned(task)
                        self._deliver(
                            task.node_id, event.revision, task.id, None if deleted else task
                        )
        finally:
            watch.close()

    async def sweep_liveness(self) -> None:
        """Mark down the nodes without a session, and time this loop's lag, which sessions
        do not count as their nodes' silence: the leader's work, run while it leads."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self._lag.watch())
            group.create_task(self._silence.watch(self._liveness.period / 2))
            group.create_task(self._liveness.run())

    def step_down(self) -> None:
        """This manager stopped leading: end every session, so each agent finds the leader."""
        for outbox in self._outboxes.values():
            outbox.close(Unavailable("this manager no longer leads the cluster"))

    def _close_session(self, node_id: str, *, promoted: bool = False) -> None:
        outbox = self._outboxes.get(node_id)
        if outbox is None:
            return
        if promoted:
            if not outbox.worker:
                # A manager's own node (demoted, then promoted again): already a manager.
                return
            log.info("closing the worker session of a promoted node", node_id=node_id)
            outbox.close(NodePromoted(f"node {node_id} was promoted to a manager"))
            return
        log.info("closing the session of a removed node", node_id=node_id)
        outbox.close(NodeRemoved(f"node {node_id} was removed from the cluster"))

    def _deliver(self, node_id: str, revision: int, task_id: str, task: Task | None) -> None:
        outbox = self._outboxes.get(node_id)
        if outbox is not None:
            outbox.put(revision, task_id, task)

    # -- Renew --------------------------------------------------------------------------------

    @unary_errors
    async def Renew(self, request: pb.RenewRequest, context: Any) -> pb.RenewResponse:
        node = self._auth.node(context)
        public_key = pki.public_key_of_csr(request.csr_pem)
        role = pki.ROLE_MANAGER if node.role == NodeRole.MANAGER else pki.ROLE_WORKER
        trust = self._trust
        cert_pem = trust.issue(public_key, node.id, role, self._cert_lifetime)
        roots_pem, digest = trust.roots_pem, trust.cluster.digest
        # The node holds a certificate of the root that signs now: what a CA rotation waits for.
        await self._store.transact(
            lambda view: (
                [Put(replace(n, cert_root=digest))]
                if (n := view.get(Node, node.id)) is not None and n.cert_root != digest
                else []
            )
        )
        log.info("certificate renewed", node_id=node.id)
        return pb.RenewResponse(cert_pem=cert_pem, ca_pem=roots_pem)

    @unary_errors
    async def Leave(self, request: pb.LeaveRequest, context: Any) -> pb.LeaveResponse:
        node = self._auth.node(context)
        if node.role == NodeRole.MANAGER:
            raise PermissionDenied("the manager's own node cannot leave its cluster")
        await self._store.transact(
            lambda view: [Delete(current)] if (current := view.get(Node, node.id)) else []
        )
        log.info("node left", node_id=node.id)
        return pb.LeaveResponse()

    async def PublishLogs(
        self, request_iterator: AsyncIterator[lpb.PublishLogsMessage], context: Any
    ) -> lpb.PublishLogsResponse:
        try:
            batches = (convert.published_logs_from_pb(m) async for m in request_iterator)
            await self.logs.publish(self._auth.node(context).id, batches)
        except ShoalError as exc:
            await context.abort(code_for(exc), str(exc))
        return lpb.PublishLogsResponse()

    # -- Session ------------------------------------------------------------------------------

    async def Session(
        self, request_iterator: AsyncIterator[pb.AgentMessage], context: Context
    ) -> AsyncIterator[pb.ManagerMessage]:
        if not self._managers.leads():
            await refuse(self._managers, context)
            return
        messages = aiter(request_iterator)
        pace = self._liveness.session_pace()
        period = Period(pace.period)
        first: pb.AgentMessage | None = None
        try:
            subject: pki.Subject | None = peer_subject(context)
        except ShoalError:
            subject = None  # refused below, once its first message is read
        # Present while its hello is on the way, as while it waits its turn: a node whose
        # session just ended counts as down soon after (Liveness._sweep).
        if subject is not None:
            self._liveness.knocking(subject.node_id)
        try:
            first = await asyncio.wait_for(anext(messages), MISSED_BEATS * period.seconds)
        except TimeoutError:
            # A node or a manager too busy to pass the hello in time (thousands of nodes
            # reconnecting at once): the node tries again, as after any outage. Refusing it for
            # good, as a malformed session is, stopped healthy nodes.
            await context.abort(grpc.StatusCode.UNAVAILABLE, "no hello in time: try again")
            return
        except StopAsyncIteration:
            pass
        finally:
            if subject is not None:
                self._liveness.knocked(subject.node_id)
        if first is None or first.WhichOneof("kind") != "hello":
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "a session starts with hello")
            return
        try:
            node = self._auth.node(context)
            worker = (subject or peer_subject(context)).role == pki.ROLE_WORKER
            if node.role == NodeRole.MANAGER and worker:
                # Promoted while its agent was away.
                raise NodePromoted(f"node {node.id} was promoted to a manager")
            node_id = node.id
        except ShoalError as exc:
            if isinstance(exc, NodeRemoved):
                yield session_messages.REMOVED
            if isinstance(exc, NodePromoted):
                yield session_messages.PROMOTED
            await context.abort(code_for(exc), str(exc))
            return
        turn = await self._admission.turn(node_id)
        held = self._held(node_id, worker, first, messages, context, pace, period, turn)
        try:
            # Closed here, not when collected: its end writes the node's state.
            async with contextlib.aclosing(held):
                async for message in held:
                    yield message
        finally:
            turn.end()

    async def _held(
        self,
        node_id: str,
        worker: bool,
        first: pb.AgentMessage,
        messages: AsyncIterator[pb.AgentMessage],
        context: Context,
        pace: Pace,
        period: Period,
        turn: Turn,
    ) -> AsyncGenerator[pb.ManagerMessage, None]:
        """The session, from its turn to open to its end."""
        bound = log.bind(node_id=node_id)
        previous = self._outboxes.get(node_id)
        if previous is not None:
            previous.close(Conflict("replaced by a newer session of the same node"))
        # The snapshot and the outbox are taken with no await between them: no event is lost.
        # Registered before the first await, so an older session ending now finds itself
        # replaced and leaves the node's state to this one.
        outbox = Outbox(self._store.revision, worker)
        self._outboxes[node_id] = outbox
        requests = self.logs.attach(node_id)
        ingress, mesh_changes = self.ingress.attach()
        full = [t for t in self._store.tasks_on_node(node_id) if assigned(t)]
        self._liveness.connected(node_id)
        try:
            await self._open(
                node_id,
                first.hello,
                peer_host(context.peer()),
                session_messages.peer_root(self._trust, context),
            )
        except ShoalError as exc:
            if self._outboxes.get(node_id) is outbox:
                del self._outboxes[node_id]
                self._liveness.disconnected(node_id, down=False)
            self.logs.detach(node_id, requests)
            self.ingress.detach(mesh_changes)
            if isinstance(exc, NodeRemoved):
                yield session_messages.REMOVED
            await context.abort(code_for(exc), str(exc))
            return
        bound.info("session opened", tasks=len(full))
        reader = asyncio.create_task(
            session_reader.read(
                node_id,
                messages,
                period,
                self._metrics,
                self._liveness,
                self._status,
                self._silence,
            )
        )
        down = False
        take: asyncio.Task[dict[str, Task | None]] | None = None
        ask: asyncio.Task[LogRequest] | None = None
        mesh: asyncio.Task[dict[str, IngressPort | None]] | None = None
        network: asyncio.Task[NetworkView] | None = None
        managers: asyncio.Task[int] | None = None
        trust: asyncio.Task[None] | None = None
        retold: asyncio.Task[Pace] | None = None
        try:
            trust = asyncio.create_task(self._trust.wait_changed())
            retold = asyncio.create_task(self._liveness.pace_change(pace))
            yield self._settings(pace)
            for chunk in chunks.assignments(
                full, full=True, files=self._files.for_task, auth_of=self._registry_auth
            ):
                yield pb.ManagerMessage(assignments=chunk)
            yield pb.ManagerMessage(ingress=session_messages.ingress_full(ingress))
            told = self._managers.version
            listed = manager_list(self._managers)
            yield listed
            turn.end()
            take = asyncio.create_task(outbox.take())
            ask = asyncio.create_task(requests.get())
            mesh = asyncio.create_task(mesh_changes.take())
            # The first view goes even when empty: the agent acts on none before it.
            network = asyncio.create_task(self.networks.changed(node_id, None))
            managers = asyncio.create_task(self._managers.changed(told))
            while True:
                await asyncio.wait(
                    [reader, take, ask, mesh, network, managers, trust, retold],
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if reader.done():
                    down = reader.result()
                    break
                if trust.done() or retold.done():
                    # A CA rotation began or ended: the node hears the roots now. Or the
                    # cluster grew or shrank: the node beats at its new period from now on.
                    if trust.done():
                        trust = asyncio.create_task(self._trust.wait_changed())
                    if retold.done():
                        pace = retold.result()
                        period.seconds = pace.period
                        retold = asyncio.create_task(self._liveness.pace_change(pace))
                    yield self._settings(pace)
                if ask.done():
                    yield convert.log_request_to_pb(ask.result())
                    ask = asyncio.create_task(requests.get())
                if mesh.done():
                    changed = mesh.result()
                    mesh = asyncio.create_task(mesh_changes.take())
                    yield pb.ManagerMessage(ingress=session_messages.ingress_changes(changed))
                if network.done():
                    sent = network.result()
                    yield pb.ManagerMessage(network_view=convert.network_view_to_pb(sent))
                    network = asyncio.create_task(self.networks.changed(node_id, sent))
                if managers.done():
                    managers = asyncio.create_task(self._managers.changed(managers.result()))
                    # Said again only when the addresses or their order changed.
                    if (latest := manager_list(self._managers)) != listed:
                        listed = latest
                        yield listed
                if not take.done():
                    continue
                try:
                    changes = take.result()
                except ShoalError as exc:
                    if isinstance(exc, NodeRemoved):
                        yield session_messages.REMOVED
                    if isinstance(exc, NodePromoted):
                        yield session_messages.PROMOTED
                    elif not self._managers.leads():
                        await refuse(self._managers, context)
                    await context.abort(code_for(exc), str(exc))
                take = asyncio.create_task(outbox.take())
                for chunk in chunks.assignments(
                    [t for t in changes.values() if t is not None],
                    [tid for tid, t in changes.items() if t is None],
                    full=False,
                    files=self._files.for_task,
                    auth_of=self._registry_auth,
                ):
                    yield pb.ManagerMessage(assignments=chunk)
        finally:
            reader.cancel()
            for pending in (take, ask, mesh, network, managers, trust, retold):
                if pending is not None:
                    pending.cancel()
            self.logs.detach(node_id, requests)
            self.ingress.detach(mesh_changes)
            # A former leader writes nothing: the node's state is the new leader's to tell.
            if self._outboxes.get(node_id) is outbox:
                del self._outboxes[node_id]
                self._liveness.disconnected(node_id, down=down)
                if self._managers.leads():
                    state, why = (
                        (NodeState.DOWN, "heartbeat failure")
                        if down
                        else (NodeState.DISCONNECTED, "session closed")
                    )
                    await self._liveness.set_state(node_id, state, why)
                    bound.info("session closed", state=state.name)

    def _settings(self, pace: Pace) -> pb.ManagerMessage:
        return session_messages.settings(self._trust, pace, len(self._outboxes))

    async def _open(self, node_id: str, hello: pb.Hello, addr: str, cert_root: str) -> None:
        data_addr = data_address(self._local, node_id, hello.description.data_addr, addr)
        description = check_description(convert.description_from_pb(hello.description), data_addr)
        check_agent(description)

        def plan(view: ReadView) -> Sequence[Op]:
            node = view.get(Node, node_id)
            if node is None:
                # Removed since the session's certificate was checked, a moment ago.
                raise NodeRemoved(f"node {node_id} was removed from the cluster")
            check_hostname_free(view, node_id, description.hostname, self._hostnames)
            ready = replace(
                node,
                state=NodeState.READY,
                message="",
                description=description,
                addr=addr,
                cert_root=cert_root or node.cert_root,
            )
            return [] if ready == node else [Put(ready)]

        await self._store.transact(plan)
