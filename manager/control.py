"""The Control API servicer: validate, then read or write the store; nothing else."""

from __future__ import annotations

import functools
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast

import grpc
import structlog

from common import convert, event_filters, publish, tokens
from common.api import control_pb2 as pb
from common.api import control_pb2_grpc
from common.api import logs_pb2 as lpb
from common.api import types_pb2 as types_pb
from common.constraints import parse as parse_constraint
from common.errors import Conflict, InvalidArgument, NotFound, ShoalError
from common.grpc_errors import code_for, unary_errors
from common.ids import new_id
from common.limits import MAX_NAME, MAX_SPEC_BYTES, MAX_WORD, check_each, check_labels, check_text
from common.model import (
    EPOCH,
    Availability,
    Cluster,
    FailureAction,
    Network,
    Node,
    NodeRole,
    NodeState,
    Service,
    ServiceMode,
    ServiceSpec,
    Task,
    TaskState,
    UpdateConfig,
    UpdateState,
    UpdateStatus,
    now,
)
from common.netaddr import split_host_port
from common.ports import DEFAULT_PORT, reserved_ports
from common.publish import task_ports
from common.taskstate import is_live
from manager.auth import Authenticator
from manager.container_checks import validate_container
from manager.event_stream import FellBehind, Subscription
from manager.ingress_ports import endpoint_ports
from manager.logbroker import LogBroker
from manager.networks.objects import check_unused, new_network, resolve_network, with_networks
from manager.orchestrator.global_service import reconcile_global
from manager.orchestrator.slots import new_task
from manager.placement import node_infos
from manager.scheduler import SPREAD_PREFIX, demand_of, schedule
from manager.spec_limits import check_spec_strings
from manager.store import Delete, Op, Put, ReadView, StateStore

log = structlog.get_logger("control")

# Bounds that keep one typo from making a transaction or a timer the manager cannot handle.
MAX_REPLICAS = 100_000
MAX_RESTART_DURATION = timedelta(days=365)

# Docker's rule for service names: they become DNS labels and container name prefixes.
_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$")


def spec_from_request(msg: types_pb.ServiceSpec) -> ServiceSpec:
    """The spec a request carries, bounded in size, converted and validated."""
    size = msg.ByteSize()
    if size > MAX_SPEC_BYTES:
        raise InvalidArgument(f"the service spec is {size} bytes: the limit is {MAX_SPEC_BYTES}")
    spec = convert.spec_from_pb(msg)
    validate_spec(spec)
    return spec


def validate_spec(spec: ServiceSpec) -> None:
    check_spec_strings(spec)
    if not _NAME.match(spec.name):
        raise InvalidArgument(
            f"invalid service name {spec.name!r}: use 1-63 letters, digits, '_', '.' or '-',"
            " starting with a letter or digit"
        )
    if not spec.container.image.strip():
        raise InvalidArgument("a service needs an image")
    if spec.mode == ServiceMode.GLOBAL:
        for flag, used in (
            ("replicas", spec.replicas != 0),
            ("replicas-max-per-node", spec.placement.max_replicas_per_node != 0),
            ("placement-pref", bool(spec.placement.spread)),
        ):
            if used:
                raise InvalidArgument(f"--{flag} can only be used with replicated mode")
    for constraint in spec.placement.constraints:
        parse_constraint(constraint)
    for key in spec.placement.spread:
        if not key.startswith(SPREAD_PREFIX) or key == SPREAD_PREFIX:
            raise InvalidArgument(
                f"invalid placement preference {key!r}: expected spread=node.labels.KEY"
            )
    for what, amount in (
        ("cpu reservation", spec.reservations.nano_cpus),
        ("memory reservation", spec.reservations.memory_bytes),
        ("cpu limit", spec.container.limits.nano_cpus),
        ("memory limit", spec.container.limits.memory_bytes),
    ):
        if amount < 0:
            raise InvalidArgument(f"the {what} cannot be negative")
    if spec.replicas > MAX_REPLICAS:
        raise InvalidArgument(f"replicas {spec.replicas} is more than {MAX_REPLICAS}")
    for which, config in (("update", spec.update), ("rollback", spec.rollback)):
        _validate_update_config(which, config)
    if spec.rollback.failure_action == FailureAction.ROLLBACK:
        raise InvalidArgument("the rollback failure action must be pause or continue")
    restart = spec.restart
    for flag, value in (("delay", restart.delay), ("window", restart.window)):
        if value is not None and not timedelta(0) <= value <= MAX_RESTART_DURATION:
            raise InvalidArgument(f"restart {flag} must be between 0 and 365 days")
    for entry in spec.container.env:
        if "=" not in entry or entry.startswith("="):
            raise InvalidArgument(f"invalid environment entry {entry!r}: expected KEY=VALUE")
    validate_container(spec.container)
    publish.validate(spec.ports)


def _validate_update_config(which: str, config: UpdateConfig) -> None:
    for flag, value in (("delay", config.delay), ("monitor", config.monitor)):
        if not timedelta(0) <= value <= MAX_RESTART_DURATION:
            raise InvalidArgument(f"{which} {flag} must be between 0 and 365 days")
    if not 0 <= config.max_failure_ratio <= 1:
        raise InvalidArgument(f"{which} max failure ratio must be between 0 and 1")
    if config.parallelism > MAX_REPLICAS:
        raise InvalidArgument(
            f"{which} parallelism {config.parallelism} is more than {MAX_REPLICAS}"
        )


def replaces_tasks(old: ServiceSpec, new: ServiceSpec) -> bool:
    """Whether going from old to new replaces the running tasks (a rolling update)."""

    def what_tasks_run(spec: ServiceSpec) -> tuple[object, ...]:
        return (
            spec.container,
            spec.reservations,
            spec.force_update,
            task_ports(spec.ports),
            spec.networks,
        )

    return what_tasks_run(old) != what_tasks_run(new)


def resolve_service(view: ReadView, ref: str) -> Service:
    """A service by full ID, then by name, then by unambiguous ID prefix (docker's order)."""
    if not ref:
        raise InvalidArgument("no service given")
    found = view.get(Service, ref)
    if found is not None:
        return found
    services = view.objects(Service)
    by_name = [s for s in services if s.spec.name == ref]
    if by_name:
        return by_name[0]
    by_prefix = [s for s in services if s.id.startswith(ref)]
    if len(by_prefix) == 1:
        return by_prefix[0]
    if len(by_prefix) > 1:
        raise InvalidArgument(f"service {ref} is ambiguous ({len(by_prefix)} matches)")
    raise NotFound(f"no such service: {ref}")


def resolve_task(view: ReadView, ref: str) -> Task:
    """A task by full ID, then by unambiguous ID prefix."""
    found = view.get(Task, ref)
    if found is not None:
        return found
    by_prefix = [t for t in view.objects(Task) if t.id.startswith(ref)]
    if len(by_prefix) > 1:
        raise InvalidArgument(f"task {ref} is ambiguous ({len(by_prefix)} matches)")
    if not by_prefix:
        raise NotFound(f"no such service or task: {ref}")
    return by_prefix[0]


H = TypeVar("H", bound=Callable[..., Awaitable[Any]])


def admin_only(handler: H) -> H:
    """Refuse the call unless its certificate is the admin's or a manager node's."""

    @functools.wraps(handler)
    async def wrapper(self: Control, request: Any, context: Any) -> Any:
        self._auth.admin(context)
        return await handler(self, request, context)

    return cast(H, wrapper)


def resolve_node(view: ReadView, ref: str) -> Node:
    """A node by full ID, then by hostname, then by unambiguous ID prefix."""
    if not ref:
        raise InvalidArgument("no node given")
    found = view.get(Node, ref)
    if found is not None:
        return found
    nodes = view.objects(Node)
    for candidates in (
        [n for n in nodes if n.description.hostname == ref],
        [n for n in nodes if n.id.startswith(ref)],
    ):
        if len(candidates) == 1:
            return candidates[0]
        if len(candidates) > 1:
            raise InvalidArgument(f"node {ref} is ambiguous ({len(candidates)} matches)")
    raise NotFound(f"no such node: {ref}")


def plan_placement(view: ReadView, spec: ServiceSpec, service_id: str = "") -> list[pb.PlannedTask]:
    """What the scheduler would do with a new service of spec, on the cluster as it is now; with
    service_id, with that service's tasks all replaced by tasks of spec."""
    service = Service(id=service_id or new_id(), spec=spec)
    if spec.mode == ServiceMode.GLOBAL:
        tasks = reconcile_global(service, [], view.objects(Node), set(), now()).create
    else:
        tasks = [new_task(service, slot, now()) for slot in range(1, spec.replicas + 1)]
    nodes = node_infos(view, without_service=service_id)
    decision = schedule(tasks, nodes, {service.id: demand_of(spec.placement, spec.ports)})
    hostnames = {n.id: n.description.hostname for n in view.objects(Node)}
    planned = []
    for task in tasks:
        # A global service's task names its node even when it could not be placed there.
        node_id = decision.placements.get(task.id, task.node_id)
        planned.append(
            pb.PlannedTask(
                slot=task.slot,
                node_id=node_id,
                hostname=hostnames.get(node_id, ""),
                reason=decision.reasons.get(task.id, ""),
            )
        )
    return planned


class Control(control_pb2_grpc.ControlServicer):
    def __init__(
        self,
        store: StateStore,
        manager_addr: str,
        self_node_id: str,
        cluster_id: str,
        logs: LogBroker,
        metrics_port: int | None = None,
    ) -> None:
        self._store = store
        self._manager_addr = manager_addr
        _, port = split_host_port(manager_addr, DEFAULT_PORT)
        # The node's own ports, the manager's (configured and default, with the join port above
        # each) and a metrics port: no service may publish them.
        self._reserved = reserved_ports(port, metrics_port)
        self._self_node_id = self_node_id
        self._auth = Authenticator(store, cluster_id)
        self._logs = logs

    @unary_errors
    @admin_only
    async def CreateService(
        self, request: pb.CreateServiceRequest, context: Any
    ) -> pb.ServiceResponse:
        spec = spec_from_request(request.spec)
        service = Service(id=new_id(), spec=spec)

        def plan(view: ReadView) -> Sequence[Op]:
            services = view.objects(Service)
            if any(s.spec.name == spec.name for s in services):
                raise Conflict(f"service {spec.name} already exists")
            ports = endpoint_ports(service.id, spec.ports, (), services, self._reserved)
            return [Put(with_networks(view, replace(service, endpoint_ports=ports), None))]

        (stored,) = await self._store.transact(plan)
        log.info("service created", service_id=service.id, name=spec.name)
        assert isinstance(stored, Service)
        return pb.ServiceResponse(service=convert.service_to_pb(stored))

    @unary_errors
    @admin_only
    async def PlanService(
        self, request: pb.CreateServiceRequest, context: Any
    ) -> pb.PlanServiceResponse:
        spec = spec_from_request(request.spec)
        if any(s.spec.name == spec.name for s in self._store.objects(Service)):
            raise Conflict(f"service {spec.name} already exists")
        return pb.PlanServiceResponse(tasks=plan_placement(self._store, spec))

    @unary_errors
    @admin_only
    async def UpdateService(
        self, request: pb.UpdateServiceRequest, context: Any
    ) -> pb.ServiceResponse:
        spec = spec_from_request(request.spec)

        def plan(view: ReadView) -> Sequence[Op]:
            current = view.get(Service, request.service_id)
            if current is None:
                raise NotFound(f"no such service: {request.service_id}")
            if current.meta.version != request.version:
                raise Conflict(
                    f"service {current.spec.name} was changed by someone else; read it and retry"
                )
            if spec.name != current.spec.name:
                raise InvalidArgument("a service cannot be renamed")
            if spec.mode != current.spec.mode:
                raise InvalidArgument("a service's mode cannot be changed")
            status = current.update_status
            previous = current.spec
            if replaces_tasks(current.spec, spec):
                status = UpdateStatus(UpdateState.UPDATING, now(), message="update in progress")
            elif status.state == UpdateState.REBALANCING:
                raise Conflict(f"service {spec.name} is being rebalanced; wait for it to finish")
            elif status.state.active and current.previous_spec is not None:
                # A rollback under way must still return to the spec from before the update.
                previous = current.previous_spec
            ports = endpoint_ports(
                current.id,
                spec.ports,
                current.endpoint_ports,
                view.objects(Service),
                self._reserved,
            )
            updated = replace(
                current,
                spec=spec,
                previous_spec=previous,
                update_status=status,
                endpoint_ports=ports,
            )
            return [Put(with_networks(view, updated, current))]

        (stored,) = await self._store.transact(plan)
        assert isinstance(stored, Service)
        log.info(
            "service updated",
            service_id=stored.id,
            replicas=spec.replicas,
            rolling=stored.update_status.state == UpdateState.UPDATING,
        )
        return pb.ServiceResponse(service=convert.service_to_pb(stored))

    @unary_errors
    @admin_only
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
        (stored,) = await self._store.transact(plan)
        assert isinstance(stored, Service)
        log.info(what, service_id=stored.id)
        return pb.ServiceResponse(service=convert.service_to_pb(stored))

    @unary_errors
    @admin_only
    async def RollbackService(
        self, request: pb.RollbackServiceRequest, context: Any
    ) -> pb.ServiceResponse:
        def plan(view: ReadView) -> Sequence[Op]:
            current = resolve_service(view, request.ref)
            if current.previous_spec is None:
                raise InvalidArgument(
                    f"service {current.spec.name} has no previous spec to roll back to"
                )
            status = UpdateStatus(
                UpdateState.ROLLBACK_STARTED, now(), message="manually requested rollback"
            )
            spec = current.previous_spec
            rolled = replace(
                current,
                spec=spec,
                previous_spec=current.spec,
                update_status=status,
                endpoint_ports=endpoint_ports(
                    current.id, spec.ports, current.endpoint_ports, view.objects(Service)
                ),
            )
            return [Put(with_networks(view, rolled, current))]

        return await self._write_service(plan, "service rollback")

    @unary_errors
    @admin_only
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
    @admin_only
    async def GetService(self, request: pb.GetServiceRequest, context: Any) -> pb.ServiceResponse:
        service = resolve_service(self._store, request.ref)
        return pb.ServiceResponse(service=convert.service_to_pb(service))

    @unary_errors
    @admin_only
    async def ListServices(
        self, request: pb.ListServicesRequest, context: Any
    ) -> pb.ListServicesResponse:
        views = []
        for service in sorted(self._store.objects(Service), key=lambda s: s.spec.name):
            tasks = self._store.tasks_of_service(service.id)
            running = sum(
                1
                for t in tasks
                if t.desired_state == TaskState.RUNNING and t.status.state == TaskState.RUNNING
            )
            # A global service wants what it has: a task on every node that can take one.
            desired = (
                sum(1 for t in tasks if is_live(t))
                if service.spec.mode == ServiceMode.GLOBAL
                else service.spec.replicas
            )
            views.append(
                pb.ServiceView(
                    service=convert.service_to_pb(service),
                    running_tasks=running,
                    desired_tasks=desired,
                )
            )
        return pb.ListServicesResponse(services=views)

    @unary_errors
    @admin_only
    async def RemoveService(
        self, request: pb.RemoveServiceRequest, context: Any
    ) -> pb.RemoveServiceResponse:
        def plan(view: ReadView) -> Sequence[Op]:
            return [Delete(resolve_service(view, request.ref))]

        (removed,) = await self._store.transact(plan)
        log.info("service removed", service_id=removed.id)
        return pb.RemoveServiceResponse(id=removed.id)

    @unary_errors
    @admin_only
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

    @unary_errors
    @admin_only
    async def ListNodes(self, request: pb.ListNodesRequest, context: Any) -> pb.ListNodesResponse:
        nodes = sorted(self._store.objects(Node), key=lambda n: (n.description.hostname, n.id))
        return pb.ListNodesResponse(
            nodes=[convert.node_to_pb(n) for n in nodes], self_node_id=self._self_node_id
        )

    @unary_errors
    @admin_only
    async def GetNode(self, request: pb.GetNodeRequest, context: Any) -> pb.NodeResponse:
        return pb.NodeResponse(node=convert.node_to_pb(resolve_node(self._store, request.ref)))

    @unary_errors
    @admin_only
    async def UpdateNode(self, request: pb.UpdateNodeRequest, context: Any) -> pb.NodeResponse:
        availability = convert.enum_from_pb(Availability, request.availability, "availability")
        labels = dict(request.labels)
        check_labels("node label", labels)

        def plan(view: ReadView) -> Sequence[Op]:
            node = view.get(Node, request.node_id)
            if node is None:
                raise NotFound(f"no such node: {request.node_id}")
            if node.meta.version != request.version:
                raise Conflict(
                    f"node {node.description.hostname} was changed meanwhile; read it and retry"
                )
            return [Put(replace(node, availability=availability, labels=labels))]

        (stored,) = await self._store.transact(plan)
        assert isinstance(stored, Node)
        log.info("node updated", node_id=stored.id, availability=availability.name.lower())
        return pb.NodeResponse(node=convert.node_to_pb(stored))

    @unary_errors
    @admin_only
    async def RemoveNode(
        self, request: pb.RemoveNodeRequest, context: Any
    ) -> pb.RemoveNodeResponse:
        def plan(view: ReadView) -> Sequence[Op]:
            node = resolve_node(view, request.ref)
            if node.id == self._self_node_id:
                raise Conflict("the manager's own node cannot be removed")
            if node.state != NodeState.DOWN and not request.force:
                raise Conflict(
                    f"node {node.description.hostname or node.id} is not down:"
                    " stop its agent first, or use --force to remove it anyway"
                )
            return [Delete(node)]

        (removed,) = await self._store.transact(plan)
        log.info("node removed", node_id=removed.id, forced=request.force)
        return pb.RemoveNodeResponse(id=removed.id)

    @unary_errors
    @admin_only
    async def GetJoinToken(
        self, request: pb.GetJoinTokenRequest, context: Any
    ) -> pb.GetJoinTokenResponse:
        role = convert.enum_from_pb(NodeRole, request.role, "role")

        def plan(view: ReadView) -> Sequence[Op]:
            cluster = view.objects(Cluster)[0]
            if not request.rotate:
                return []
            secret = tokens.new_secret()
            if role == NodeRole.MANAGER:
                return [Put(replace(cluster, manager_secret=secret))]
            return [Put(replace(cluster, worker_secret=secret))]

        await self._store.transact(plan)
        if request.rotate:
            log.info("join token rotated", role=role.name.lower())
        cluster = self._store.objects(Cluster)[0]
        secret = cluster.manager_secret if role == NodeRole.MANAGER else cluster.worker_secret
        token = tokens.JoinToken(digest=cluster.digest, secret=secret)
        return pb.GetJoinTokenResponse(token=str(token), manager_addr=self._manager_addr)

    @unary_errors
    @admin_only
    async def CreateNetwork(
        self, request: pb.CreateNetworkRequest, context: Any
    ) -> pb.NetworkResponse:
        check_text("network name", request.name, MAX_NAME)
        check_text("subnet", request.subnet, MAX_WORD)
        labels = dict(request.labels)
        check_labels("network label", labels)

        def plan(view: ReadView) -> Sequence[Op]:
            return [Put(new_network(view, request.name, request.subnet, labels))]

        (stored,) = await self._store.transact(plan)
        assert isinstance(stored, Network)
        log.info("network created", network_id=stored.id, name=stored.name, subnet=stored.subnet)
        return pb.NetworkResponse(network=convert.network_to_pb(stored))

    @unary_errors
    @admin_only
    async def GetNetwork(self, request: pb.GetNetworkRequest, context: Any) -> pb.NetworkResponse:
        network = resolve_network(self._store, request.ref)
        return pb.NetworkResponse(network=convert.network_to_pb(network))

    @unary_errors
    @admin_only
    async def ListNetworks(
        self, request: pb.ListNetworksRequest, context: Any
    ) -> pb.ListNetworksResponse:
        networks = sorted(self._store.objects(Network), key=lambda n: n.name)
        return pb.ListNetworksResponse(networks=[convert.network_to_pb(n) for n in networks])

    @unary_errors
    @admin_only
    async def RemoveNetwork(
        self, request: pb.RemoveNetworkRequest, context: Any
    ) -> pb.RemoveNetworkResponse:
        def plan(view: ReadView) -> Sequence[Op]:
            network = resolve_network(view, request.ref)
            check_unused(view, network)
            return [Delete(network)]

        (removed,) = await self._store.transact(plan)
        log.info("network removed", network_id=removed.id)
        return pb.RemoveNetworkResponse(id=removed.id)

    async def ServiceLogs(
        self, request: lpb.ServiceLogsRequest, context: Any
    ) -> AsyncIterator[lpb.ServiceLogsMessage]:
        try:
            self._auth.admin(context)
            if not request.ref:
                raise InvalidArgument("no service or task given")
            try:
                service_id, task_id = resolve_service(self._store, request.ref).id, ""
            except NotFound:
                task = resolve_task(self._store, request.ref)
                service_id, task_id = task.service_id, task.id
        except ShoalError as exc:
            await context.abort(code_for(exc), str(exc))
            return
        async for message in self._logs.subscribe(service_id, task_id, request.options):
            yield message

    async def Events(
        self, request: pb.EventsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[pb.ClusterEvent]:
        try:
            self._auth.admin(context)
            check_each("event filter", (f.key + f.value for f in request.filters), MAX_WORD)
            filters = event_filters.group((f.key, f.value) for f in request.filters)
            since = (
                EPOCH + timedelta(microseconds=request.since_unix_nano // 1000)
                if request.since_unix_nano
                else None
            )
            subscription = Subscription(self._store, filters, since)
        except ShoalError as exc:
            await context.abort(code_for(exc), str(exc))
        try:
            await context.send_initial_metadata(())
            async for batch in subscription.batches():
                for record in batch:
                    change = record.change
                    yield pb.ClusterEvent(
                        type=change.type,
                        action=change.action,
                        id=change.id,
                        attributes=[
                            pb.EventAttribute(key=k, value=v) for k, v in change.attributes
                        ],
                        time_unix_nano=_unix_nano(record.time),
                    )
        except FellBehind as exc:
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc))
        finally:
            subscription.close()


def _unix_nano(moment: datetime) -> int:
    # Exact, unlike timestamp() * 1e9, which a float cannot hold to the nanosecond.
    return (moment - EPOCH) // timedelta(microseconds=1) * 1000
