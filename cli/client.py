"""The Control API as the client uses it: a deadline on every call, domain types out, ShoalError
on failure. The one module of the client where protobuf messages appear."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

import grpc

from cli.answers import (
    CAProgress,
    ClusterEvent,
    JoinDetails,
    NodeDetails,
    NodeListing,
    PlannedTask,
    ServiceSummary,
    TaskListing,
)
from cli.failover import Managers, Stubs
from common import convert, event_filters
from common.api import admin_pb2 as adm
from common.api import control_pb2 as api
from common.api import logs_pb2 as lpb
from common.api import system_pb2 as spb
from common.api import types_pb2 as pb
from common.convert.system import build_from_pb, info_from_pb
from common.errors import ShoalError, Unavailable
from common.grpc_errors import from_rpc_error
from common.info import ClusterInfo
from common.logs import LogOptions, ServiceLogs
from common.model import (
    DataInfo,
    Network,
    Node,
    NodeRole,
    RegistryAuth,
    Service,
    ServiceSpec,
)
from common.version import Build

DEADLINE = 10.0
"""Seconds any one call may take, so no command can hang on a manager that stopped answering."""

Request = TypeVar("Request")
Response = TypeVar("Response")


class Client:
    def __init__(self, managers: Managers) -> None:
        self._managers = managers

    def create_service(self, spec: ServiceSpec, auth: RegistryAuth | None = None) -> Service:
        """auth: the credentials the nodes pull spec's image with (--with-registry-auth)."""
        request = api.CreateServiceRequest(spec=convert.spec_to_pb(spec))
        if auth is not None:
            request.registry_auth.CopyFrom(convert.registry_auth_to_pb(auth))
        return convert.service_from_pb(
            self._write(lambda s: s.control.CreateService, request).service
        )

    def plan_service(self, spec: ServiceSpec) -> list[PlannedTask]:
        request = api.CreateServiceRequest(spec=convert.spec_to_pb(spec))
        return _planned(self._read(lambda s: s.control.PlanService, request))

    def update_service(
        self, service: Service, spec: ServiceSpec, auth: RegistryAuth | None = None
    ) -> Service:
        """Replace the spec of `service` as read; Conflict if it was written since. auth, when
        given, replaces the credentials the nodes pull with."""
        request = api.UpdateServiceRequest(
            service_id=service.id, version=service.meta.version, spec=convert.spec_to_pb(spec)
        )
        if auth is not None:
            request.registry_auth.CopyFrom(convert.registry_auth_to_pb(auth))
        return convert.service_from_pb(
            self._write(lambda s: s.control.UpdateService, request).service
        )

    def plan_service_update(self, service: Service, spec: ServiceSpec) -> list[PlannedTask]:
        request = api.UpdateServiceRequest(
            service_id=service.id, version=service.meta.version, spec=convert.spec_to_pb(spec)
        )
        return _planned(self._read(lambda s: s.control.PlanServiceUpdate, request))

    def rollback_service(self, ref: str) -> Service:
        request = api.RollbackServiceRequest(ref=ref)
        return convert.service_from_pb(
            self._write(lambda s: s.control.RollbackService, request).service
        )

    def rebalance_service(self, ref: str) -> Service:
        request = api.RebalanceServiceRequest(ref=ref)
        return convert.service_from_pb(
            self._write(lambda s: s.control.RebalanceService, request).service
        )

    def get_service(self, ref: str) -> Service:
        request = api.GetServiceRequest(ref=ref)
        return convert.service_from_pb(self._read(lambda s: s.control.GetService, request).service)

    def list_services(self) -> list[ServiceSummary]:
        response = self._read(lambda s: s.control.ListServices, api.ListServicesRequest())
        return [
            ServiceSummary(
                service=convert.service_from_pb(view.service),
                running=view.running_tasks,
                desired=view.desired_tasks,
                completed=view.completed_tasks,
                total=view.total_completions,
            )
            for view in response.services
        ]

    def remove_service(self, ref: str) -> str:
        """Returns the ID of the removed service."""
        return self._write(lambda s: s.control.RemoveService, api.RemoveServiceRequest(ref=ref)).id

    def list_tasks(self, service_ref: str = "", node_ref: str = "") -> TaskListing:
        """Tasks of a service, on a node, or both; an empty ref does not narrow the list."""
        request = api.ListTasksRequest(service_ref=service_ref, node_ref=node_ref)
        response = self._read(lambda s: s.control.ListTasks, request)
        nodes = (convert.node_from_pb(node) for node in response.nodes)
        return TaskListing(
            tasks=[convert.task_from_pb(task) for task in response.tasks],
            nodes={node.id: node for node in nodes},
        )

    def list_nodes(self) -> NodeListing:
        response = self._read(lambda s: s.control.ListNodes, api.ListNodesRequest())
        return NodeListing(
            nodes=[convert.node_from_pb(node) for node in response.nodes],
            self_id=response.self_node_id,
            managers={
                node_id: convert.manager_status_from_pb(status)
                for node_id, status in response.manager_status.items()
            },
            tls=dict(response.tls_status),
        )

    def get_node(self, ref: str) -> Node:
        return self.inspect_node(ref).node

    def inspect_node(self, ref: str) -> NodeDetails:
        """The node, its manager status when it is a manager, and its TLS status."""
        request = api.GetNodeRequest(ref=ref)
        response = self._read(lambda s: s.control.GetNode, request)
        status = (
            convert.manager_status_from_pb(response.manager_status)
            if response.HasField("manager_status")
            else None
        )
        return NodeDetails(convert.node_from_pb(response.node), status, response.tls_status)

    def update_node(self, node: Node, role: NodeRole | None = None) -> Node:
        """Write the operator's part of `node` (availability, labels, and role when given) over
        the stored one, as a whole; Conflict if the node was written since it was read."""
        request = api.UpdateNodeRequest(
            node_id=node.id,
            version=node.meta.version,
            availability=pb.NodeAvailability.ValueType(node.availability),
            labels=node.labels,
        )
        if role is not None:
            request.role = pb.NodeRole.ValueType(role)
        return convert.node_from_pb(self._write(lambda s: s.control.UpdateNode, request).node)

    def remove_node(self, ref: str, *, force: bool) -> str:
        """Returns the ID of the removed node."""
        request = api.RemoveNodeRequest(ref=ref, force=force)
        return self._write(lambda s: s.control.RemoveNode, request).id

    def join_token(self, role: NodeRole, *, rotate: bool) -> JoinDetails:
        """With rotate, the role's token is replaced first and the new one returned."""
        request = api.GetJoinTokenRequest(role=pb.NodeRole.ValueType(role), rotate=rotate)
        call = self._write if rotate else self._read
        response = call(lambda s: s.control.GetJoinToken, request)
        return JoinDetails(token=response.token, manager_addr=response.manager_addr)

    @property
    def config(self) -> Path:
        """The directory of the certificate bundle this client presents."""
        return self._managers.endpoint.config

    def rotate_admin_certificate(self, csr_pem: bytes) -> tuple[bytes, bytes]:
        """A new admin certificate for csr_pem's key, older ones revoked: (CA, certificate)."""
        request = adm.RotateAdminCertificateRequest(csr_pem=csr_pem)
        response = self._write(lambda s: s.admin.Rotate, request)
        return response.ca_pem, response.cert_pem

    def rotate_ca(self, csr_pem: bytes, cert_expiry: timedelta | None) -> tuple[bytes, bytes]:
        """Begin a CA rotation; an admin certificate of the new CA for csr_pem's key, with the
        roots to trust during it: (CA bundle, certificate)."""
        seconds = 0 if cert_expiry is None else int(cert_expiry.total_seconds())
        request = adm.RotateCARequest(csr_pem=csr_pem, cert_expiry_seconds=seconds)
        response = self._write(lambda s: s.admin.RotateCA, request)
        return response.ca_pem, response.cert_pem

    def ca_status(self) -> CAProgress:
        response = self._read(lambda s: s.admin.CAStatus, adm.CAStatusRequest())
        return CAProgress(
            rotating=response.rotating,
            moved=response.moved,
            total=response.total,
            pending=tuple(response.pending),
            ca_pem=response.ca_pem,
        )

    def service_logs(self, ref: str, options: LogOptions) -> Iterator[ServiceLogs]:
        """The lines of a service's or task's containers; with follow, until the caller stops
        reading. No deadline: how long the manager has lines to send is not known up front."""
        request = lpb.ServiceLogsRequest(ref=ref, options=convert.log_options_to_pb(options))
        call = self._managers.stubs().control.ServiceLogs(request)
        try:
            for message in call:
                yield convert.service_logs_from_pb(message)
        except grpc.RpcError as exc:
            raise self._error(exc) from exc
        finally:
            # Also when the caller stops early (Ctrl-C): the manager then stops the agents.
            call.cancel()

    def events(
        self,
        filters: Sequence[tuple[str, str]],
        since_unix_nano: int = 0,
        history_from: Callable[[int], None] | None = None,
    ) -> Iterator[ClusterEvent]:
        """Cluster events as they happen, without end; Unavailable once the manager is lost.
        history_from hears, before any event, the moment (Unix nanoseconds) the replay starts
        from when the manager's history begins after since_unix_nano."""
        request = api.EventsRequest(
            filters=[api.EventFilter(key=key, value=value) for key, value in filters],
            since_unix_nano=since_unix_nano,
        )
        # No deadline: the stream is meant to last. Keepalive pings on the channel notice a
        # manager that went away without closing the connection.
        stubs = self._managers.stubs()
        endpoint = self._managers.endpoint
        call = stubs.control.Events(request)
        subscribed = False
        try:
            # The manager sends its headers once it has subscribed, so a call still open after
            # they came was working: a failure from then on is a connection lost, not refused.
            headers = dict(call.initial_metadata() or ())
            subscribed = call.is_active()
            start = headers.get(event_filters.HISTORY_FROM)
            if start is not None and history_from is not None:
                history_from(int(start))
            for message in call:
                yield ClusterEvent(
                    type=message.type,
                    action=message.action,
                    id=message.id,
                    attributes=tuple((a.key, a.value) for a in message.attributes),
                    time_unix_nano=message.time_unix_nano,
                )
        except grpc.RpcError as exc:
            error = from_rpc_error(exc)
            if not isinstance(error, Unavailable) and exc.code() != grpc.StatusCode.CANCELLED:
                raise error from exc
            if not subscribed:
                raise endpoint.unavailable(str(error)) from exc
            raise Unavailable(f"lost the connection to the manager at {endpoint.target}") from exc
        finally:
            call.cancel()

    def create_network(self, name: str, subnet: str, labels: dict[str, str]) -> Network:
        request = api.CreateNetworkRequest(name=name, subnet=subnet, labels=labels)
        return convert.network_from_pb(
            self._write(lambda s: s.control.CreateNetwork, request).network
        )

    def get_network(self, ref: str) -> Network:
        request = api.GetNetworkRequest(ref=ref)
        return convert.network_from_pb(self._read(lambda s: s.control.GetNetwork, request).network)

    def list_networks(self) -> list[Network]:
        response = self._read(lambda s: s.control.ListNetworks, api.ListNetworksRequest())
        return [convert.network_from_pb(n) for n in response.networks]

    def remove_network(self, ref: str) -> str:
        """Returns the ID of the removed network."""
        return self._write(lambda s: s.control.RemoveNetwork, api.RemoveNetworkRequest(ref=ref)).id

    def create_data(self, config: bool, name: str, labels: dict[str, str], data: bytes) -> DataInfo:
        """A new secret, or with config a config."""
        request = api.CreateDataRequest(kind=_kind(config), name=name, labels=labels, data=data)
        return convert.data_info_from_pb(self._write(lambda s: s.control.CreateData, request).info)

    def get_data(self, config: bool, ref: str) -> DataInfo:
        request = api.GetDataRequest(kind=_kind(config), ref=ref)
        return convert.data_info_from_pb(self._read(lambda s: s.control.GetData, request).info)

    def list_data(self, config: bool) -> list[DataInfo]:
        response = self._read(lambda s: s.control.ListData, api.ListDataRequest(kind=_kind(config)))
        return [convert.data_info_from_pb(i) for i in response.items]

    def remove_data(self, config: bool, ref: str) -> str:
        request = api.RemoveDataRequest(kind=_kind(config), ref=ref)
        return self._write(lambda s: s.control.RemoveData, request).id

    def rotate_data(
        self, config: bool, ref: str, data: bytes, *, if_changed: bool = False
    ) -> tuple[DataInfo, list[str]]:
        """The secret (or config) with its new version, and the services rolling to it. With
        if_changed, data the same as the current version's makes no version (and rolls none)."""
        request = api.RotateDataRequest(
            kind=_kind(config), ref=ref, data=data, if_changed=if_changed
        )
        response = self._write(lambda s: s.control.RotateData, request)
        return convert.data_info_from_pb(response.info), list(response.services)

    def update_autolock(self, on: bool) -> str:
        """The new unlock key when autolock was turned on, else empty."""
        request = api.UpdateAutolockRequest(autolock=on)
        return self._write(lambda s: s.control.UpdateAutolock, request).unlock_key

    def unlock_key(self, *, rotate: bool) -> str:
        request = api.GetUnlockKeyRequest(rotate=rotate)
        return self._write(lambda s: s.control.GetUnlockKey, request).unlock_key

    def unlock_manager(self, unlock_key: str) -> None:
        request = api.UnlockManagerRequest(unlock_key=unlock_key)
        self._write(lambda s: s.control.UnlockManager, request)

    def version(self) -> Build:
        return build_from_pb(self._read(lambda s: s.system.Version, spb.VersionRequest()))

    def info(self) -> ClusterInfo:
        return info_from_pb(self._read(lambda s: s.system.Info, spb.InfoRequest()))

    def _read(
        self,
        pick: Callable[[Stubs], grpc.UnaryUnaryMultiCallable[Request, Response]],
        request: Request,
    ) -> Response:
        """A call that changes nothing: any manager may answer it, tried in turn."""
        return self._managers.call(pick, request, read=True)

    def _write(
        self,
        pick: Callable[[Stubs], grpc.UnaryUnaryMultiCallable[Request, Response]],
        request: Request,
    ) -> Response:
        """A call that changes the cluster: sent to a second manager only if it surely did not
        reach the first."""
        return self._managers.call(pick, request, read=False)

    def _error(self, exc: grpc.RpcError) -> ShoalError:
        error = from_rpc_error(exc)
        if isinstance(error, Unavailable):
            return self._managers.endpoint.unavailable(str(error))
        return error


def _kind(config: bool) -> api.DataKind.ValueType:
    return api.DATA_KIND_CONFIG if config else api.DATA_KIND_SECRET


def _planned(response: api.PlanServiceResponse) -> list[PlannedTask]:
    return [
        PlannedTask(slot=t.slot, node=t.hostname or t.node_id, reason=t.reason)
        for t in response.tasks
    ]
