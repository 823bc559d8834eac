"""pb2 <-> domain: the only module where protobuf messages and domain types meet."""

from __future__ import annotations

import enum
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from common import model as m
from common.api import dispatcher_pb2 as dpb
from common.api import types_pb2 as pb
from common.errors import InvalidArgument
from common.ingress import IngressBackend, IngressPort
from common.netview import Endpoint, NetworkView, NodeNetwork


def _ts_to_pb(value: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(value)
    return ts


def _ts_from_pb(ts: Timestamp) -> datetime:
    return ts.ToDatetime(tzinfo=UTC)


def _duration_to_pb(value: timedelta) -> Duration:
    d = Duration()
    d.FromTimedelta(value)
    return d


def _duration_from_pb(value: Duration, field: str) -> timedelta:
    """InvalidArgument naming field for a duration Python cannot hold (or, in protobuf releases
    that check, one outside protobuf's range)."""
    try:
        return value.ToTimedelta()
    except (OverflowError, ValueError):
        raise InvalidArgument(f"invalid {field}: {value.seconds}s is out of range") from None


E = TypeVar("E", bound=enum.IntEnum)


def enum_from_pb(kind: type[E], value: int, field: str) -> E:
    """value as kind, or InvalidArgument naming field and the values it takes: a number the
    enum does not hold comes from a newer client, or a hostile one."""
    try:
        return kind(value)
    except ValueError:
        names = ", ".join(e.name.lower() for e in kind)
        raise InvalidArgument(f"invalid {field} {value}: expected one of {names}") from None


def restart_to_pb(r: m.RestartPolicy) -> pb.RestartPolicy:
    msg = pb.RestartPolicy(
        condition=pb.RestartCondition.ValueType(r.condition), max_attempts=r.max_attempts
    )
    if r.delay is not None:
        msg.delay.CopyFrom(_duration_to_pb(r.delay))
    if r.window is not None:
        msg.window.CopyFrom(_duration_to_pb(r.window))
    return msg


def restart_from_pb(msg: pb.RestartPolicy) -> m.RestartPolicy:
    return m.RestartPolicy(
        condition=enum_from_pb(m.RestartCondition, msg.condition, "restart condition"),
        delay=_duration_field(msg, "delay", "restart delay"),
        max_attempts=msg.max_attempts,
        window=_duration_field(msg, "window", "restart window"),
    )


def meta_to_pb(meta: m.Meta) -> pb.Meta:
    return pb.Meta(
        version=meta.version,
        created_at=_ts_to_pb(meta.created_at),
        updated_at=_ts_to_pb(meta.updated_at),
    )


def meta_from_pb(msg: pb.Meta) -> m.Meta:
    return m.Meta(
        version=msg.version,
        created_at=_ts_from_pb(msg.created_at),
        updated_at=_ts_from_pb(msg.updated_at),
    )


def resources_to_pb(r: m.Resources) -> pb.Resources:
    return pb.Resources(nano_cpus=r.nano_cpus, memory_bytes=r.memory_bytes)


def resources_from_pb(msg: pb.Resources) -> m.Resources:
    return m.Resources(nano_cpus=msg.nano_cpus, memory_bytes=msg.memory_bytes)


def description_to_pb(d: m.NodeDescription) -> pb.NodeDescription:
    return pb.NodeDescription(
        hostname=d.hostname,
        engine_version=d.engine_version,
        resources=resources_to_pb(d.resources),
        os=d.os,
        arch=d.arch,
        shoal_version=d.version,
        protocol=d.protocol,
        data_addr=d.data_addr,
    )


def description_from_pb(msg: pb.NodeDescription) -> m.NodeDescription:
    return m.NodeDescription(
        hostname=msg.hostname,
        engine_version=msg.engine_version,
        resources=resources_from_pb(msg.resources),
        os=msg.os,
        arch=msg.arch,
        version=msg.shoal_version,
        protocol=msg.protocol,
        data_addr=msg.data_addr,
    )


def node_to_pb(n: m.Node) -> pb.Node:
    return pb.Node(
        id=n.id,
        meta=meta_to_pb(n.meta),
        role=pb.NodeRole.ValueType(n.role),
        availability=pb.NodeAvailability.ValueType(n.availability),
        state=pb.NodeState.ValueType(n.state),
        message=n.message,
        description=description_to_pb(n.description),
        addr=n.addr,
        labels=n.labels,
    )


def node_from_pb(msg: pb.Node) -> m.Node:
    return m.Node(
        id=msg.id,
        meta=meta_from_pb(msg.meta),
        role=m.NodeRole(msg.role),
        availability=m.Availability(msg.availability),
        state=m.NodeState(msg.state),
        message=msg.message,
        description=description_from_pb(msg.description),
        addr=msg.addr,
        labels=dict(msg.labels),
    )


def _duration_field(parent: Message, name: str, field: str) -> timedelta | None:
    """A Duration field of parent, None when unset; field names it in an error."""
    if not parent.HasField(name):
        return None
    value: Duration = getattr(parent, name)
    return _duration_from_pb(value, field)


def mount_to_pb(mount: m.Mount) -> pb.Mount:
    return pb.Mount(
        type=pb.MountType.ValueType(mount.type),
        source=mount.source,
        target=mount.target,
        read_only=mount.read_only,
    )


def mount_from_pb(msg: pb.Mount) -> m.Mount:
    return m.Mount(
        type=enum_from_pb(m.MountType, msg.type, "mount type"),
        target=msg.target,
        source=msg.source,
        read_only=msg.read_only,
    )


def port_to_pb(p: m.PortConfig) -> pb.PortConfig:
    return pb.PortConfig(
        target=p.target,
        published=p.published,
        protocol=pb.PortProtocol.ValueType(p.protocol),
        mode=pb.PublishMode.ValueType(p.mode),
    )


def port_from_pb(msg: pb.PortConfig) -> m.PortConfig:
    return m.PortConfig(
        target=msg.target,
        published=msg.published,
        protocol=enum_from_pb(m.PortProtocol, msg.protocol, "port protocol"),
        mode=enum_from_pb(m.PublishMode, msg.mode, "publish mode"),
    )


def binding_to_pb(b: m.PortBinding) -> pb.PortBinding:
    return pb.PortBinding(
        target=b.target,
        host_port=b.host_port,
        protocol=pb.PortProtocol.ValueType(b.protocol),
        container_ip=b.container_ip,
    )


def binding_from_pb(msg: pb.PortBinding) -> m.PortBinding:
    return m.PortBinding(
        target=msg.target,
        host_port=msg.host_port,
        protocol=m.PortProtocol(msg.protocol),
        container_ip=msg.container_ip,
    )


def ingress_port_to_pb(p: IngressPort) -> dpb.IngressPort:
    return dpb.IngressPort(
        service_id=p.service_id,
        published=p.published,
        protocol=pb.PortProtocol.ValueType(p.protocol),
        backends=[
            dpb.IngressBackend(
                task_id=b.task_id,
                node_id=b.node_id,
                addr=b.addr,
                host_port=b.host_port,
                container_ip=b.container_ip,
                target=b.target,
            )
            for b in p.backends
        ],
    )


def ingress_port_from_pb(msg: dpb.IngressPort) -> IngressPort:
    return IngressPort(
        service_id=msg.service_id,
        published=msg.published,
        protocol=m.PortProtocol(msg.protocol),
        backends=tuple(
            IngressBackend(
                task_id=b.task_id,
                node_id=b.node_id,
                addr=b.addr,
                host_port=b.host_port,
                container_ip=b.container_ip,
                target=b.target,
            )
            for b in msg.backends
        ),
    )


def healthcheck_to_pb(h: m.HealthCheck) -> pb.HealthCheck:
    msg = pb.HealthCheck(test=h.test, retries=h.retries)
    for name, value in (
        ("interval", h.interval),
        ("timeout", h.timeout),
        ("start_period", h.start_period),
    ):
        if value is not None:
            getattr(msg, name).CopyFrom(_duration_to_pb(value))
    return msg


def healthcheck_from_pb(msg: pb.HealthCheck) -> m.HealthCheck:
    return m.HealthCheck(
        test=tuple(msg.test),
        interval=_duration_field(msg, "interval", "health check interval"),
        timeout=_duration_field(msg, "timeout", "health check timeout"),
        retries=msg.retries,
        start_period=_duration_field(msg, "start_period", "health check start period"),
    )


def container_to_pb(c: m.ContainerSpec) -> pb.ContainerSpec:
    msg = pb.ContainerSpec(
        image=c.image,
        args=c.args,
        env=c.env,
        labels=c.labels,
        limits=resources_to_pb(c.limits),
        hostname=c.hostname,
        entrypoint=c.entrypoint,
        user=c.user,
        workdir=c.workdir,
        mounts=[mount_to_pb(mount) for mount in c.mounts],
        stop_signal=c.stop_signal,
        init=c.init,
        read_only=c.read_only,
    )
    if c.stop_grace_period is not None:
        msg.stop_grace_period.CopyFrom(_duration_to_pb(c.stop_grace_period))
    if c.healthcheck is not None:
        msg.healthcheck.CopyFrom(healthcheck_to_pb(c.healthcheck))
    return msg


def container_from_pb(msg: pb.ContainerSpec) -> m.ContainerSpec:
    return m.ContainerSpec(
        image=msg.image,
        args=tuple(msg.args),
        env=tuple(msg.env),
        labels=dict(msg.labels),
        limits=resources_from_pb(msg.limits),
        hostname=msg.hostname,
        entrypoint=tuple(msg.entrypoint),
        user=msg.user,
        workdir=msg.workdir,
        mounts=tuple(mount_from_pb(mount) for mount in msg.mounts),
        stop_grace_period=_duration_field(msg, "stop_grace_period", "stop grace period"),
        stop_signal=msg.stop_signal,
        init=msg.init,
        read_only=msg.read_only,
        healthcheck=healthcheck_from_pb(msg.healthcheck) if msg.HasField("healthcheck") else None,
    )


def update_config_to_pb(c: m.UpdateConfig) -> pb.UpdateConfig:
    return pb.UpdateConfig(
        parallelism=c.parallelism,
        delay=_duration_to_pb(c.delay),
        monitor=_duration_to_pb(c.monitor),
        failure_action=pb.FailureAction.ValueType(c.failure_action),
        max_failure_ratio=c.max_failure_ratio,
        order=pb.UpdateOrder.ValueType(c.order),
    )


def update_config_from_pb(msg: pb.UpdateConfig, which: str = "update") -> m.UpdateConfig:
    """which: update or rollback, as errors name the config."""
    # Specs stored before update configs existed carry none: they get the defaults.
    if not msg.HasField("monitor"):
        return m.UpdateConfig()
    return m.UpdateConfig(
        parallelism=msg.parallelism,
        delay=_duration_from_pb(msg.delay, f"{which} delay"),
        monitor=_duration_from_pb(msg.monitor, f"{which} monitor"),
        failure_action=enum_from_pb(m.FailureAction, msg.failure_action, f"{which} failure action"),
        max_failure_ratio=msg.max_failure_ratio,
        order=enum_from_pb(m.UpdateOrder, msg.order, f"{which} order"),
    )


def update_status_to_pb(u: m.UpdateStatus) -> pb.UpdateStatus:
    return pb.UpdateStatus(
        state=pb.UpdateState.ValueType(u.state),
        started_at=_ts_to_pb(u.started_at),
        completed_at=_ts_to_pb(u.completed_at),
        message=u.message,
    )


def update_status_from_pb(msg: pb.UpdateStatus) -> m.UpdateStatus:
    return m.UpdateStatus(
        state=m.UpdateState(msg.state),
        started_at=_ts_from_pb(msg.started_at),
        completed_at=_ts_from_pb(msg.completed_at),
        message=msg.message,
    )


def spec_to_pb(s: m.ServiceSpec) -> pb.ServiceSpec:
    return pb.ServiceSpec(
        name=s.name,
        labels=s.labels,
        container=container_to_pb(s.container),
        mode=pb.ServiceMode.ValueType(s.mode),
        replicas=s.replicas,
        restart=restart_to_pb(s.restart),
        placement=pb.Placement(
            constraints=s.placement.constraints,
            max_replicas_per_node=s.placement.max_replicas_per_node,
            spread=s.placement.spread,
        ),
        reservations=resources_to_pb(s.reservations),
        update=update_config_to_pb(s.update),
        rollback=update_config_to_pb(s.rollback),
        force_update=s.force_update,
        ports=[port_to_pb(p) for p in s.ports],
        networks=s.networks,
        endpoint_mode=pb.EndpointMode.ValueType(s.endpoint_mode),
    )


def spec_from_pb(msg: pb.ServiceSpec) -> m.ServiceSpec:
    return m.ServiceSpec(
        name=msg.name,
        labels=dict(msg.labels),
        container=container_from_pb(msg.container),
        mode=enum_from_pb(m.ServiceMode, msg.mode, "mode"),
        replicas=msg.replicas,
        restart=restart_from_pb(msg.restart),
        placement=m.Placement(
            constraints=tuple(msg.placement.constraints),
            max_replicas_per_node=msg.placement.max_replicas_per_node,
            spread=tuple(msg.placement.spread),
        ),
        reservations=resources_from_pb(msg.reservations),
        update=update_config_from_pb(msg.update),
        rollback=update_config_from_pb(msg.rollback, "rollback"),
        force_update=msg.force_update,
        ports=tuple(port_from_pb(p) for p in msg.ports),
        networks=tuple(msg.networks),
        endpoint_mode=enum_from_pb(m.EndpointMode, msg.endpoint_mode, "endpoint mode"),
    )


def service_to_pb(s: m.Service) -> pb.Service:
    msg = pb.Service(
        id=s.id,
        meta=meta_to_pb(s.meta),
        spec=spec_to_pb(s.spec),
        update_status=update_status_to_pb(s.update_status),
        endpoint_ports=[port_to_pb(p) for p in s.endpoint_ports],
        virtual_ips=[
            pb.VirtualIP(network_id=net, address=addr) for net, addr in s.virtual_ips.items()
        ],
    )
    if s.previous_spec is not None:
        msg.previous_spec.CopyFrom(spec_to_pb(s.previous_spec))
    return msg


def service_from_pb(msg: pb.Service) -> m.Service:
    return m.Service(
        id=msg.id,
        meta=meta_from_pb(msg.meta),
        spec=spec_from_pb(msg.spec),
        previous_spec=spec_from_pb(msg.previous_spec) if msg.HasField("previous_spec") else None,
        update_status=update_status_from_pb(msg.update_status),
        endpoint_ports=tuple(port_from_pb(p) for p in msg.endpoint_ports),
        virtual_ips={vip.network_id: vip.address for vip in msg.virtual_ips},
    )


def status_to_pb(s: m.TaskStatus) -> pb.TaskStatus:
    return pb.TaskStatus(
        state=pb.TaskState.ValueType(s.state),
        timestamp=_ts_to_pb(s.timestamp),
        message=s.message,
        err=s.err,
        container_id=s.container_id,
        exit_code=s.exit_code,
        ports=[binding_to_pb(b) for b in s.ports],
        addresses=[
            pb.NetworkAddress(network_id=net, address=addr) for net, addr in s.addresses.items()
        ],
    )


def status_from_pb(msg: pb.TaskStatus) -> m.TaskStatus:
    return m.TaskStatus(
        state=m.TaskState(msg.state),
        timestamp=_ts_from_pb(msg.timestamp),
        message=msg.message,
        err=msg.err,
        container_id=msg.container_id,
        exit_code=msg.exit_code,
        ports=tuple(binding_from_pb(b) for b in msg.ports),
        addresses={a.network_id: a.address for a in msg.addresses},
    )


def task_to_pb(t: m.Task) -> pb.Task:
    return pb.Task(
        id=t.id,
        meta=meta_to_pb(t.meta),
        service_id=t.service_id,
        service_name=t.service_name,
        slot=t.slot,
        node_id=t.node_id,
        spec=container_to_pb(t.spec),
        desired_state=pb.TaskState.ValueType(t.desired_state),
        status=status_to_pb(t.status),
        restart_streak=t.restart_streak,
        restart_times=[_ts_to_pb(at) for at in t.restart_times],
        finished=t.finished,
        reservations=resources_to_pb(t.reservations),
        force_update=t.force_update,
        ports=[port_to_pb(p) for p in t.ports],
        networks=t.networks,
    )


def task_from_pb(msg: pb.Task) -> m.Task:
    return m.Task(
        id=msg.id,
        meta=meta_from_pb(msg.meta),
        service_id=msg.service_id,
        service_name=msg.service_name,
        slot=msg.slot,
        node_id=msg.node_id,
        spec=container_from_pb(msg.spec),
        desired_state=m.TaskState(msg.desired_state),
        status=status_from_pb(msg.status),
        restart_streak=msg.restart_streak,
        restart_times=tuple(_ts_from_pb(at) for at in msg.restart_times),
        finished=msg.finished,
        reservations=resources_from_pb(msg.reservations),
        force_update=msg.force_update,
        ports=tuple(port_from_pb(p) for p in msg.ports),
        networks=tuple(msg.networks),
    )


def cluster_to_pb(c: m.Cluster) -> pb.Cluster:
    return pb.Cluster(
        id=c.id,
        meta=meta_to_pb(c.meta),
        digest=c.digest,
        worker_secret=c.worker_secret,
        manager_secret=c.manager_secret,
        admin_generation=c.admin_generation,
    )


def cluster_from_pb(msg: pb.Cluster) -> m.Cluster:
    return m.Cluster(
        id=msg.id,
        meta=meta_from_pb(msg.meta),
        digest=msg.digest,
        worker_secret=msg.worker_secret,
        manager_secret=msg.manager_secret,
        admin_generation=msg.admin_generation,
    )


def network_to_pb(n: m.Network) -> pb.Network:
    return pb.Network(
        id=n.id,
        meta=meta_to_pb(n.meta),
        name=n.name,
        subnet=n.subnet,
        vni=n.vni,
        labels=n.labels,
        slices=n.slices,
    )


def network_from_pb(msg: pb.Network) -> m.Network:
    return m.Network(
        id=msg.id,
        meta=meta_from_pb(msg.meta),
        name=msg.name,
        subnet=msg.subnet,
        vni=msg.vni,
        labels=dict(msg.labels),
        slices=dict(msg.slices),
    )


def network_view_to_pb(view: NetworkView) -> dpb.NetworkView:
    return dpb.NetworkView(
        networks=[
            dpb.NodeNetwork(
                id=n.id,
                name=n.name,
                subnet=n.subnet,
                vni=n.vni,
                slice=n.slice,
                gateway=n.gateway,
                peers=n.peers,
                endpoints=[
                    dpb.NetworkEndpoint(
                        service_name=e.service_name, virtual_ip=e.virtual_ip, addresses=e.addresses
                    )
                    for e in n.endpoints
                ],
            )
            for n in view.networks
        ],
        foreign_subnets=view.foreign_subnets,
    )


def network_view_from_pb(msg: dpb.NetworkView) -> NetworkView:
    return NetworkView(
        networks=tuple(
            NodeNetwork(
                id=n.id,
                name=n.name,
                subnet=n.subnet,
                vni=n.vni,
                slice=n.slice,
                gateway=n.gateway,
                peers=tuple(n.peers),
                endpoints=tuple(
                    Endpoint(e.service_name, e.virtual_ip, tuple(e.addresses)) for e in n.endpoints
                ),
            )
            for n in msg.networks
        ),
        foreign_subnets=tuple(msg.foreign_subnets),
    )
