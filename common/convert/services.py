"""Services, tasks and the status a node reports of a task."""

from __future__ import annotations

from common import model as m
from common.api import types_pb2 as pb
from common.convert.base import (
    meta_from_pb,
    meta_to_pb,
    resources_from_pb,
    resources_to_pb,
    ts_from_pb,
    ts_to_pb,
)
from common.convert.specs import (
    container_from_pb,
    container_to_pb,
    port_from_pb,
    port_to_pb,
    spec_from_pb,
    spec_to_pb,
)

# Tasks of one service share its ContainerSpec object (frozen), and a task is converted at each
# of its writes and sends: converting each spec object once, not once per task, was a quarter
# of a burst's conversion work. An entry holds its spec, so no other object takes its id.
SPEC_CACHE_SIZE = 1024
_spec_messages: dict[int, tuple[m.ContainerSpec, pb.ContainerSpec]] = {}


def _container_message(spec: m.ContainerSpec) -> pb.ContainerSpec:
    """The spec's message, shared: only to be copied (as a message field set from it is)."""
    cached = _spec_messages.get(id(spec))
    if cached is not None and cached[0] is spec:
        return cached[1]
    msg = container_to_pb(spec)
    if len(_spec_messages) >= SPEC_CACHE_SIZE:
        # The store's thread converts too: another may have evicted the same entry meanwhile.
        _spec_messages.pop(next(iter(_spec_messages)), None)
    _spec_messages[id(spec)] = (spec, msg)
    return msg


def update_status_to_pb(u: m.UpdateStatus) -> pb.UpdateStatus:
    return pb.UpdateStatus(
        state=pb.UpdateState.ValueType(u.state),
        started_at=ts_to_pb(u.started_at),
        completed_at=ts_to_pb(u.completed_at),
        message=u.message,
    )


def update_status_from_pb(msg: pb.UpdateStatus) -> m.UpdateStatus:
    return m.UpdateStatus(
        state=m.UpdateState(msg.state),
        started_at=ts_from_pb(msg.started_at),
        completed_at=ts_from_pb(msg.completed_at),
        message=msg.message,
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


def status_to_pb(s: m.TaskStatus) -> pb.TaskStatus:
    return pb.TaskStatus(
        state=pb.TaskState.ValueType(s.state),
        timestamp=ts_to_pb(s.timestamp),
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
        timestamp=ts_from_pb(msg.timestamp),
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
        spec=_container_message(t.spec),
        desired_state=pb.TaskState.ValueType(t.desired_state),
        status=status_to_pb(t.status),
        restart_streak=t.restart_streak,
        restart_times=[ts_to_pb(at) for at in t.restart_times],
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
        restart_times=tuple(ts_from_pb(at) for at in msg.restart_times),
        finished=msg.finished,
        reservations=resources_from_pb(msg.reservations),
        force_update=msg.force_update,
        ports=tuple(port_from_pb(p) for p in msg.ports),
        networks=tuple(msg.networks),
    )
