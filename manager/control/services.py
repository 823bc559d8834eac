"""The Control API's calls on services and their tasks."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from common import convert
from common.api import control_pb2 as pb
from common.errors import Conflict, InvalidArgument, NotFound, StaleVersion
from common.grpc_errors import unary_errors
from common.ids import new_id
from common.jobs import job_counts
from common.model import (
    Node,
    Service,
    ServiceMode,
    Task,
    UpdateState,
    UpdateStatus,
    now,
)
from common.taskstate import is_live, replaces_tasks
from manager import registry_auth
from manager.allocator.ports import check_ports
from manager.control.base import ControlBase
from manager.control.files import resolved
from manager.control.networks import with_networks
from manager.control.plan import plan_placement
from manager.control.resolve import resolve_node, resolve_service
from manager.control.validation import spec_from_request
from manager.orchestrator.rollback import rolled_back
from manager.store import Delete, Op, Put, ReadView


class ServiceCalls(ControlBase):
    @unary_errors
    async def CreateService(
        self, request: pb.CreateServiceRequest, context: Any
    ) -> pb.ServiceResponse:
        spec = spec_from_request(request.spec)
        service_id = new_id()
        sealed = self._sealed_auth(request, service_id)
        service = Service(id=service_id, spec=spec, sealed_registry_auth=sealed)

        def plan(view: ReadView) -> Sequence[Op]:
            services = view.objects(Service)
            if any(s.spec.name == spec.name for s in services):
                raise Conflict(f"service {spec.name} already exists")
            check_ports(service.id, spec.ports, services, self._reserved)
            return [Put(with_networks(view, resolved(view, service)))]

        stored = await self._write_one(plan, "service created", name=spec.name)
        assert isinstance(stored, Service)
        return pb.ServiceResponse(service=convert.service_to_pb(stored))

    @unary_errors
    async def PlanService(
        self, request: pb.CreateServiceRequest, context: Any
    ) -> pb.PlanServiceResponse:
        spec = spec_from_request(request.spec)
        if any(s.spec.name == spec.name for s in self._store.objects(Service)):
            raise Conflict(f"service {spec.name} already exists")
        return pb.PlanServiceResponse(tasks=plan_placement(self._store, spec))

    @unary_errors
    async def UpdateService(
        self, request: pb.UpdateServiceRequest, context: Any
    ) -> pb.ServiceResponse:
        spec = spec_from_request(request.spec)
        sealed = self._sealed_auth(request, request.service_id)

        def plan(view: ReadView) -> Sequence[Op]:
            current = view.get(Service, request.service_id)
            if current is None:
                raise NotFound(f"no such service: {request.service_id}")
            if current.meta.version != request.version:
                raise StaleVersion(
                    f"service {current.spec.name} was changed by someone else; read it and retry"
                )
            if spec.name != current.spec.name:
                raise InvalidArgument("a service cannot be renamed")
            if spec.mode != current.spec.mode:
                raise InvalidArgument("a service's mode cannot be changed")
            status = current.update_status
            previous = current.spec
            # A job runs again from a new spec (the orchestrator's doing): it never rolls.
            if replaces_tasks(current.spec, spec) and not spec.mode.is_job:
                status = UpdateStatus(UpdateState.UPDATING, now(), message="update in progress")
            elif status.state == UpdateState.REBALANCING:
                raise Conflict(f"service {spec.name} is being rebalanced; wait for it to finish")
            elif status.state.active and current.previous_spec is not None:
                # A rollback under way must still return to the spec from before the update.
                previous = current.previous_spec
            check_ports(current.id, spec.ports, view.objects(Service), self._reserved)
            updated = replace(current, spec=spec, previous_spec=previous, update_status=status)
            if sealed:
                updated = replace(updated, sealed_registry_auth=sealed)
            return [Put(with_networks(view, resolved(view, updated)))]

        stored = await self._write_one(plan, "service updated", replicas=spec.replicas)
        assert isinstance(stored, Service)
        return pb.ServiceResponse(service=convert.service_to_pb(stored))

    def _sealed_auth(
        self, request: pb.CreateServiceRequest | pb.UpdateServiceRequest, service_id: str
    ) -> bytes:
        """The request's registry credentials sealed for service_id; empty when it has none."""
        if not request.HasField("registry_auth"):
            return b""
        auth = convert.registry_auth_from_pb(request.registry_auth)
        return registry_auth.seal(self._data_key, service_id, auth)

    @unary_errors
    async def PlanServiceUpdate(
        self, request: pb.UpdateServiceRequest, context: Any
    ) -> pb.PlanServiceResponse:
        spec = spec_from_request(request.spec)
        current = self._store.get(Service, request.service_id)
        if current is None:
            raise NotFound(f"no such service: {request.service_id}")
        if (spec.name, spec.mode) != (current.spec.name, current.spec.mode):
            raise InvalidArgument("a service cannot be renamed, nor its mode changed")
        return pb.PlanServiceResponse(tasks=plan_placement(self._store, spec, current.id))

    async def _write_service(
        self, plan: Callable[[ReadView], Sequence[Op]], what: str
    ) -> pb.ServiceResponse:
        """Commit plan, which writes one service, and answer with the service as stored."""
        stored = await self._write_one(plan, what)
        assert isinstance(stored, Service)
        return pb.ServiceResponse(service=convert.service_to_pb(stored))

    @unary_errors
    async def RollbackService(
        self, request: pb.RollbackServiceRequest, context: Any
    ) -> pb.ServiceResponse:
        def plan(view: ReadView) -> Sequence[Op]:
            current = resolve_service(view, request.ref)
            message = "manually requested rollback"
            return [Put(rolled_back(view, current, message, self._reserved))]

        return await self._write_service(plan, "service rollback")

    @unary_errors
    async def RebalanceService(
        self, request: pb.RebalanceServiceRequest, context: Any
    ) -> pb.ServiceResponse:
        def plan(view: ReadView) -> Sequence[Op]:
            current = resolve_service(view, request.ref)
            name = current.spec.name
            if current.spec.mode != ServiceMode.REPLICATED:
                raise InvalidArgument(f"service {name}: rebalance applies to replicated services")
            if current.update_status.state in (UpdateState.UPDATING, UpdateState.ROLLBACK_STARTED):
                raise Conflict(f"service {name} is being updated; wait for it to finish")
            status = UpdateStatus(UpdateState.REBALANCING, now(), message="rebalance in progress")
            return [Put(replace(current, update_status=status))]

        return await self._write_service(plan, "service rebalance")

    @unary_errors
    async def GetService(self, request: pb.GetServiceRequest, context: Any) -> pb.ServiceResponse:
        service = resolve_service(self._store, request.ref)
        return pb.ServiceResponse(service=convert.service_to_pb(service))

    @unary_errors
    async def ListServices(
        self, request: pb.ListServicesRequest, context: Any
    ) -> pb.ListServicesResponse:
        views = []
        for service in sorted(self._store.objects(Service), key=lambda s: s.spec.name):
            if service.spec.mode.is_job:
                counts = job_counts(service, self._store.tasks_of_service(service.id))
                views.append(
                    pb.ServiceView(
                        service=convert.service_to_pb(service),
                        running_tasks=counts.running,
                        desired_tasks=counts.active,
                        completed_tasks=counts.completed,
                        total_completions=counts.total,
                    )
                )
                continue
            # A global service wants what it has: a task on every node that can take one.
            desired = (
                self._counts.live(service.id)
                if service.spec.mode.is_global
                else service.spec.replicas
            )
            views.append(
                pb.ServiceView(
                    service=convert.service_to_pb(service),
                    running_tasks=self._counts.running(service.id),
                    desired_tasks=desired,
                )
            )
        return pb.ListServicesResponse(services=views)

    @unary_errors
    async def RemoveService(
        self, request: pb.RemoveServiceRequest, context: Any
    ) -> pb.RemoveServiceResponse:
        def plan(view: ReadView) -> Sequence[Op]:
            return [Delete(resolve_service(view, request.ref))]

        removed = await self._write_one(plan, "service removed")
        return pb.RemoveServiceResponse(id=removed.id)

    @unary_errors
    async def ListTasks(self, request: pb.ListTasksRequest, context: Any) -> pb.ListTasksResponse:
        if request.service_ref:
            service = resolve_service(self._store, request.service_ref)
            tasks = self._store.tasks_of_service(service.id)
        else:
            tasks = self._store.objects(Task)
        if request.node_ref:
            node = resolve_node(self._store, request.node_ref)
            tasks = [t for t in tasks if t.node_id == node.id]
        tasks.sort(
            key=lambda t: (t.service_name, t.slot, not is_live(t), -t.meta.created_at.timestamp())
        )
        node_ids = {t.node_id for t in tasks}
        nodes = [n for n in self._store.objects(Node) if n.id in node_ids]
        return pb.ListTasksResponse(
            tasks=[convert.task_to_pb(t) for t in tasks],
            nodes=[convert.node_to_pb(n) for n in nodes],
        )
