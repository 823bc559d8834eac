"""Service specs and what they hold: containers, mounts, ports, health checks, restart and
update policies."""

from __future__ import annotations

from common import model as m
from common.api import types_pb2 as pb
from common.convert.base import (
    duration_field,
    duration_from_pb,
    duration_to_pb,
    enum_from_pb,
    resources_from_pb,
    resources_to_pb,
)
from common.convert.files import file_ref_from_pb, file_ref_to_pb


def restart_to_pb(r: m.RestartPolicy) -> pb.RestartPolicy:
    msg = pb.RestartPolicy(
        condition=pb.RestartCondition.ValueType(r.condition), max_attempts=r.max_attempts
    )
    if r.delay is not None:
        msg.delay.CopyFrom(duration_to_pb(r.delay))
    if r.window is not None:
        msg.window.CopyFrom(duration_to_pb(r.window))
    return msg


def restart_from_pb(msg: pb.RestartPolicy) -> m.RestartPolicy:
    return m.RestartPolicy(
        condition=enum_from_pb(m.RestartCondition, msg.condition, "restart condition"),
        delay=duration_field(msg, "delay", "restart delay"),
        max_attempts=msg.max_attempts,
        window=duration_field(msg, "window", "restart window"),
    )


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


def healthcheck_to_pb(h: m.HealthCheck) -> pb.HealthCheck:
    msg = pb.HealthCheck(test=h.test, retries=h.retries)
    for name, value in (
        ("interval", h.interval),
        ("timeout", h.timeout),
        ("start_period", h.start_period),
    ):
        if value is not None:
            getattr(msg, name).CopyFrom(duration_to_pb(value))
    return msg


def healthcheck_from_pb(msg: pb.HealthCheck) -> m.HealthCheck:
    return m.HealthCheck(
        test=tuple(msg.test),
        interval=duration_field(msg, "interval", "health check interval"),
        timeout=duration_field(msg, "timeout", "health check timeout"),
        retries=msg.retries,
        start_period=duration_field(msg, "start_period", "health check start period"),
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
        secrets=[file_ref_to_pb(r) for r in c.secrets],
        configs=[file_ref_to_pb(r) for r in c.configs],
    )
    if c.stop_grace_period is not None:
        msg.stop_grace_period.CopyFrom(duration_to_pb(c.stop_grace_period))
    if c.healthcheck is not None:
        msg.healthcheck.CopyFrom(healthcheck_to_pb(c.healthcheck))
    return msg


def container_from_pb(msg: pb.ContainerSpec) -> m.ContainerSpec:
    return m.ContainerSpec(
        image=msg.image,
        args=tuple(msg.args),
        env=tuple(msg.env),
        # Most have none; a map field copied through the Mapping ABC costs even then.
        labels=dict(msg.labels) if msg.labels else {},
        limits=resources_from_pb(msg.limits),
        hostname=msg.hostname,
        entrypoint=tuple(msg.entrypoint),
        user=msg.user,
        workdir=msg.workdir,
        mounts=tuple(mount_from_pb(mount) for mount in msg.mounts),
        stop_grace_period=duration_field(msg, "stop_grace_period", "stop grace period"),
        stop_signal=msg.stop_signal,
        init=msg.init,
        read_only=msg.read_only,
        healthcheck=healthcheck_from_pb(msg.healthcheck) if msg.HasField("healthcheck") else None,
        secrets=tuple(file_ref_from_pb(r) for r in msg.secrets),
        configs=tuple(file_ref_from_pb(r) for r in msg.configs),
    )


def update_config_to_pb(c: m.UpdateConfig) -> pb.UpdateConfig:
    return pb.UpdateConfig(
        parallelism=c.parallelism,
        delay=duration_to_pb(c.delay),
        monitor=duration_to_pb(c.monitor),
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
        delay=duration_from_pb(msg.delay, f"{which} delay"),
        monitor=duration_from_pb(msg.monitor, f"{which} monitor"),
        failure_action=enum_from_pb(m.FailureAction, msg.failure_action, f"{which} failure action"),
        max_failure_ratio=msg.max_failure_ratio,
        order=enum_from_pb(m.UpdateOrder, msg.order, f"{which} order"),
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
        max_concurrent=s.max_concurrent,
        aliases=s.aliases,
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
        max_concurrent=msg.max_concurrent,
        aliases=tuple(msg.aliases),
    )
