"""`service inspect --pretty`: docker's human layout of a service, sections it would leave empty
left out, and the update status and pending tasks a Swarm user has to dig for."""

from __future__ import annotations

import shlex

from cli import humanize, output, publish_flags, tasks
from common.model import (
    DEFAULT_STOP_GRACE,
    HEALTH_SHELL,
    Resources,
    Service,
    ServiceMode,
    Task,
    TaskState,
    UpdateConfig,
    UpdateState,
)
from common.taskstate import is_live

field = output.pretty_field


def pretty(service: Service, service_tasks: list[Task]) -> list[str]:
    spec = service.spec
    lines = [field("ID:", service.id), field("Name:", spec.name)]
    lines += _labels("Labels:", spec.labels)
    if spec.mode is ServiceMode.REPLICATED:
        lines += [field("Service Mode:", "Replicated"), field(" Replicas:", str(spec.replicas))]
    elif spec.mode is ServiceMode.REPLICATED_JOB:
        lines += [
            field("Service Mode:", "ReplicatedJob"),
            field(" Max Concurrent:", str(spec.concurrency)),
            field(" Total Completions:", str(spec.replicas)),
        ]
    else:
        lines.append(
            field("Service Mode:", "Global" if spec.mode is ServiceMode.GLOBAL else "GlobalJob")
        )
    status = service.update_status
    if status.state is not UpdateState.NONE:
        lines += [
            "UpdateStatus:",
            field(" State:", status.state.name.lower()),
            field(" Started:", output.go_time(status.started_at)),
        ]
        if not status.state.active:
            lines.append(field(" Completed:", output.go_time(status.completed_at)))
        lines.append(field(" Message:", status.message))
    pending = [
        t
        for t in tasks.ordered(service_tasks)
        if is_live(t) and t.status.state == TaskState.PENDING
    ]
    if pending:
        lines.append("Pending Tasks:")
        lines += [field(f" {tasks.slot_name(t)}:", t.status.err or "waiting") for t in pending]
    placement = spec.placement
    if placement.constraints or placement.spread or placement.max_replicas_per_node:
        lines.append("Placement:")
        if placement.constraints:
            lines.append(field(" Constraints:", f"[{' '.join(placement.constraints)}]"))
        if placement.spread:
            lines.append(" Preferences:")
            lines += [f"   Spread: {key}" for key in placement.spread]
        if placement.max_replicas_per_node:
            lines.append(field(" Max Replicas Per Node:", str(placement.max_replicas_per_node)))
    lines += _update_config("UpdateConfig:", spec.update, "Update order:")
    lines += _update_config("RollbackConfig:", spec.rollback, "Rollback order:")
    lines += _container(service)
    lines += _resources(spec.reservations, spec.container.limits)
    lines.append(field("Endpoint Mode:", "vip"))
    return lines + publish_flags.pretty(service)


def _labels(title: str, labels: dict[str, str]) -> list[str]:
    if not labels:
        return []
    return [title, *(f" {key}={value}" for key, value in sorted(labels.items()))]


def _update_config(title: str, config: UpdateConfig, order: str) -> list[str]:
    lines = [title, field(" Parallelism:", str(config.parallelism))]
    if config.delay:
        lines.append(field(" Delay:", humanize.go_duration(config.delay)))
    return [
        *lines,
        field(" On failure:", config.failure_action.name.lower()),
        field(" Monitoring Period:", humanize.go_duration(config.monitor)),
        field(" Max failure ratio:", f"{config.max_failure_ratio:g}"),
        field(f" {order}", config.order.name.lower().replace("_", "-")),
    ]


def _container(service: Service) -> list[str]:
    container = service.spec.container
    lines = ["ContainerSpec:", field(" Image:", container.image)]
    if container.entrypoint:
        lines.append(field(" Command:", shlex.join(container.entrypoint)))
    if container.args:
        lines.append(field(" Args:", shlex.join(container.args)))
    if container.env:
        lines.append(field(" Env:", " ".join(container.env)))
    for name, value in (
        (" Hostname:", container.hostname),
        (" User:", container.user),
        (" Dir:", container.workdir),
        (" StopSignal:", container.stop_signal),
    ):
        if value:
            lines.append(field(name, value))
    grace = container.stop_grace_period
    if grace is not None and grace != DEFAULT_STOP_GRACE:
        lines.append(field(" StopGracePeriod:", humanize.go_duration(grace)))
    if container.init:
        lines.append(field(" Init:", "true"))
    if container.read_only:
        lines.append(field(" Read Only:", "true"))
    lines += _labels(" Labels:", container.labels)
    check = container.healthcheck
    if check is not None:
        if check.disabled:
            test = "disabled"
        elif check.test[:1] == (HEALTH_SHELL,):
            test = " ".join(check.test[1:])
        else:
            test = shlex.join(check.test[1:]) or "(the image's)"
        lines += ["Healthcheck:", field(" Test:", test)]
        for name, every in (
            (" Interval:", check.interval),
            (" Timeout:", check.timeout),
            (" Start Period:", check.start_period),
        ):
            if every is not None:
                lines.append(field(name, humanize.go_duration(every)))
        if check.retries:
            lines.append(field(" Retries:", str(check.retries)))
    if container.mounts:
        lines.append("Mounts:")
        for mount in container.mounts:
            lines += [
                field(" Target:", mount.target),
                field("  Source:", mount.source),
                field("  ReadOnly:", str(mount.read_only).lower()),
                field("  Type:", mount.type.name.lower()),
            ]
    return lines


def _resources(reservations: Resources, limits: Resources) -> list[str]:
    lines: list[str] = []
    for title, amounts in ((" Reservations:", reservations), (" Limits:", limits)):
        if amounts.nano_cpus or amounts.memory_bytes:
            lines.append(title)
            if amounts.nano_cpus:
                lines.append(field("  CPU:", f"{amounts.nano_cpus / 1e9:g}"))
            if amounts.memory_bytes:
                lines.append(field("  Memory:", humanize.bytes_size(amounts.memory_bytes)))
    return ["Resources:", *lines] if lines else []
