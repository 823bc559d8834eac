"""An in-memory fake of the Control service for the client's tests, and the cluster it is
seeded with."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace

import grpc

from common import convert, no_leader, pki, tls
from common import model as m
from common.api import control_pb2 as api
from common.api import control_pb2_grpc, logs_pb2, types_pb2
from common.ids import new_id
from common.key_files import Kek
from tests.unit.cli.fake_refs import resolved
from tests.unit.fake_files import FakeFiles
from tests.unit.fake_networks import FakeNetworks


class FakeControl(FakeNetworks, FakeFiles, control_pb2_grpc.ControlServicer):
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
        # What the managers' leases say of each manager node.
        self.manager_status: dict[str, m.ManagerStatus] = {}
        self.calls: list[str] = []
        self.creates: list[api.CreateServiceRequest] = []
        self.updates: list[api.UpdateServiceRequest] = []
        self.node_updates: list[api.UpdateNodeRequest] = []
        self.token_requests: list[tuple[m.NodeRole, bool]] = []
        self.rotations: dict[m.NodeRole, int] = {}
        self.node_removals: list[tuple[str, bool]] = []
        # What PlanService answers: (slot, hostname, reason) per task.
        self.plan: list[tuple[int, str, str]] = []
        # Service name -> why PlanService and PlanServiceUpdate refuse its spec (INVALID_ARGUMENT).
        self.refused: dict[str, str] = {}
        # Writes another client makes right after each of our next reads.
        self.interlopers = 0
        self.slow = False
        # Answer every call UNAVAILABLE once it arrived, as a manager that cannot serve it.
        self.unavailable = False
        # Refuse this many next calls as a follower does while no manager leads.
        self.leaderless = 0
        self.release = threading.Event()
        self.event_requests: list[api.EventsRequest] = []
        # What Events streams: these events, then the end given (a status and its details; OK
        # ends the stream without error), or, without one, nothing more until the client leaves.
        self.events: list[api.ClusterEvent] = []
        # Autolock's key while it is on, else empty.
        self.unlock_key = ""
        self.unlock_requests: list[str] = []
        self.events_end: tuple[grpc.StatusCode, str] | None = None

    def PlanService(
        self, request: api.CreateServiceRequest, context: grpc.ServicerContext
    ) -> api.PlanServiceResponse:
        self._enter("PlanService", context)
        if request.spec.name in self.refused:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, self.refused[request.spec.name])
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
        self.creates.append(request)
        service = m.Service(
            id=new_id(), spec=self._stored_spec(request.spec), meta=m.Meta(version=1)
        )
        self.services[service.id] = service
        self.counts[service.id] = (0, service.spec.replicas)
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
            context.abort(
                grpc.StatusCode.ABORTED,
                f"service {current.spec.name} was changed by someone else; read it and retry",
            )
        updated = replace(
            current,
            spec=self._stored_spec(request.spec),
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
        # As the manager does: only the nodes the listed tasks are on.
        on = {t.node_id for t in listed}
        return api.ListTasksResponse(
            tasks=[convert.task_to_pb(t) for t in listed],
            nodes=[convert.node_to_pb(n) for n in self.nodes if n.id in on],
        )

    def ListNodes(
        self, request: api.ListNodesRequest, context: grpc.ServicerContext
    ) -> api.ListNodesResponse:
        self._enter("ListNodes", context)
        if self.slow:
            self.release.wait(10)
        return api.ListNodesResponse(
            nodes=[convert.node_to_pb(n) for n in self.nodes],
            self_node_id=self.self_node_id,
            manager_status={
                node_id: convert.manager_status_to_pb(status)
                for node_id, status in self.manager_status.items()
            },
            tls_status={n.id: self._tls_status(n) for n in self.nodes},
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
        status = self.manager_status.get(found.id)
        tls = self._tls_status(found)
        if status is None:
            return api.NodeResponse(node=convert.node_to_pb(found), tls_status=tls)
        return api.NodeResponse(
            node=convert.node_to_pb(found),
            manager_status=convert.manager_status_to_pb(status),
            tls_status=tls,
        )

    @staticmethod
    def _tls_status(node: m.Node) -> str:
        # The manager's words (manager/ca_rotation.py): a node down after a rotation it missed
        # must join again.
        return "NeedsRejoin" if node.state is m.NodeState.DOWN else "Ready"

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
        role = m.NodeRole(request.role) if request.HasField("role") else current.role
        managers = [n for n in self.nodes if n.role is m.NodeRole.MANAGER]
        if role is m.NodeRole.WORKER and managers == [current]:
            context.abort(
                grpc.StatusCode.FAILED_PRECONDITION,
                "attempting to demote the last manager of the cluster",
            )
        updated = replace(
            current,
            availability=m.Availability(request.availability),
            labels=dict(request.labels),
            role=role,
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
        if found.id == self.self_node_id:
            context.abort(grpc.StatusCode.ABORTED, "the manager's own node cannot be removed")
        if found.role is m.NodeRole.MANAGER and found.state is not m.NodeState.DOWN:
            context.abort(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"node {found.description.hostname or found.id} is a manager that is not down:"
                " demote it to a worker first (`shoal node demote`)",
            )
        if found.state is not m.NodeState.DOWN and not request.force:
            context.abort(
                grpc.StatusCode.ABORTED,
                f"node {found.description.hostname or found.id} is not down:"
                " stop its agent first, or use --force to remove it anyway",
            )
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

    def UpdateAutolock(
        self, request: api.UpdateAutolockRequest, context: grpc.ServicerContext
    ) -> api.UnlockKeyResponse:
        self._enter("UpdateAutolock", context)
        if request.autolock == bool(self.unlock_key):
            return api.UnlockKeyResponse()
        self.unlock_key = Kek.generate().unlock_key if request.autolock else ""
        return api.UnlockKeyResponse(unlock_key=self.unlock_key)

    def GetUnlockKey(
        self, request: api.GetUnlockKeyRequest, context: grpc.ServicerContext
    ) -> api.UnlockKeyResponse:
        self._enter("GetUnlockKey", context)
        if not self.unlock_key:
            context.abort(
                grpc.StatusCode.FAILED_PRECONDITION, "no unlock key is set: autolock is off"
            )
        if request.rotate:
            self.unlock_key = Kek.generate().unlock_key
        return api.UnlockKeyResponse(unlock_key=self.unlock_key)

    def UnlockManager(
        self, request: api.UnlockManagerRequest, context: grpc.ServicerContext
    ) -> api.UnlockManagerResponse:
        self._enter("UnlockManager", context)
        self.unlock_requests.append(request.unlock_key)
        context.abort(grpc.StatusCode.FAILED_PRECONDITION, "this manager is not locked")

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
        if self.unavailable:
            context.abort(grpc.StatusCode.UNAVAILABLE, "no leader to forward the call to")
        if self.leaderless:
            self.leaderless -= 1
            context.abort(grpc.StatusCode.UNAVAILABLE, no_leader.REFUSAL)

    def _stored_spec(self, spec: types_pb2.ServiceSpec) -> m.ServiceSpec:
        """spec as the manager stores it: its networks by ID (names it does not know as given)."""
        found = convert.spec_from_pb(spec)
        ids = {n.name: n.id for n in self.networks.values()}
        return replace(found, networks=tuple(ids.get(ref, ref) for ref in found.networks))

    def _resolve(self, ref: str, context: grpc.ServicerContext) -> m.Service:
        return resolved(
            "service", ref, list(self.services.values()), lambda s: s.spec.name, False, context
        )

    def _resolve_node(self, ref: str, context: grpc.ServicerContext) -> m.Node:
        return resolved("node", ref, self.nodes, lambda n: n.description.hostname, True, context)

    def _store_node(self, node: m.Node) -> None:
        self.nodes = [node if n.id == node.id else n for n in self.nodes]
