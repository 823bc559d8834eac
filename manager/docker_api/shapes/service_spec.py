"""docker's ServiceSpec <-> ServiceSpec. What spec_to_json writes, spec_from_json reads back
unchanged: `docker service update` sends the spec it read with its changes."""

from __future__ import annotations

from typing import Any

from common.errors import InvalidArgument
from common.model import (
    ContainerSpec,
    EndpointMode,
    FailureAction,
    HealthCheck,
    Mount,
    MountType,
    Placement,
    PortConfig,
    PortProtocol,
    PublishMode,
    Resources,
    RestartCondition,
    RestartPolicy,
    ServiceMode,
    ServiceSpec,
    UpdateConfig,
    UpdateOrder,
)
from manager.docker_api.shapes.fields import Fields
from manager.docker_api.shapes.references import references_from_json, references_to_json
from manager.docker_api.shapes.times import nanos

# The label `docker stack deploy` puts on what it makes, naming the stack.
STACK_NAMESPACE = "com.docker.stack.namespace"

RESTART = {
    "any": RestartCondition.ANY,
    "on-failure": RestartCondition.ON_FAILURE,
    "none": RestartCondition.NONE,
}
FAILURE = {"pause": FailureAction.PAUSE, "continue": FailureAction.CONTINUE}
FAILURE_ROLLBACK = {**FAILURE, "rollback": FailureAction.ROLLBACK}
ORDER = {"stop-first": UpdateOrder.STOP_FIRST, "start-first": UpdateOrder.START_FIRST}
PROTOCOL = {"tcp": PortProtocol.TCP, "udp": PortProtocol.UDP}
PUBLISH = {"ingress": PublishMode.INGRESS, "host": PublishMode.HOST}
ENDPOINT = {"vip": EndpointMode.VIP, "dnsrr": EndpointMode.DNSRR}
MOUNT = {"bind": MountType.BIND, "volume": MountType.VOLUME, "tmpfs": MountType.TMPFS}
SPREAD = "SpreadDescriptor"


def word(table: dict[str, Any], value: Any) -> str:
    return next(k for k, v in table.items() if v == value)


def spec_from_json(body: Any) -> ServiceSpec:
    spec = Fields(body, "")
    name = spec.text("Name")
    labels = spec.labels("Labels")
    template = spec.obj("TaskTemplate")
    container = _container(template.obj("ContainerSpec"))
    resources = template.obj("Resources")
    limits = _resources(resources.obj("Limits"))
    reservations = _resources(resources.obj("Reservations"))
    resources.done()
    restart = _restart(template.obj("RestartPolicy"))
    placement = _placement(template.obj("Placement"))
    force_update = template.integer("ForceUpdate")
    template.allow("Runtime", "container")
    networks = _networks(template, name, labels) or _networks(spec, name, labels)
    template.done()
    mode, replicas, max_concurrent = _mode(spec.obj("Mode"))
    update = _update(spec, "UpdateConfig", FAILURE_ROLLBACK)
    rollback = _update(spec, "RollbackConfig", FAILURE)
    endpoint = spec.obj("EndpointSpec")
    endpoint_mode = endpoint.choice("Mode", ENDPOINT, EndpointMode.VIP)
    ports = tuple(_port(p) for p in endpoint.objs("Ports"))
    endpoint.done()
    spec.done()
    return ServiceSpec(
        name=name,
        container=ContainerSpec(**{**container, "limits": limits}),
        labels=labels,
        mode=mode,
        replicas=replicas,
        restart=restart,
        placement=placement,
        reservations=reservations,
        update=update,
        rollback=rollback,
        force_update=force_update,
        ports=ports,
        networks=networks,
        endpoint_mode=endpoint_mode,
        max_concurrent=max_concurrent,
    )


def _container(c: Fields) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "image": c.text("Image"),
        "labels": c.labels("Labels"),
        "entrypoint": c.strs("Command"),
        "args": c.strs("Args"),
        "hostname": c.text("Hostname"),
        "env": c.strs("Env"),
        "workdir": c.text("Dir"),
        "user": c.text("User"),
        "mounts": tuple(_mount(m) for m in c.objs("Mounts")),
        "stop_grace_period": c.duration("StopGracePeriod"),
        "stop_signal": c.text("StopSignal"),
        "init": c.flag("Init"),
        "read_only": c.flag("ReadOnly"),
        "secrets": references_from_json(c, "Secret"),
        "configs": references_from_json(c, "Config"),
    }
    if c.has("HealthCheck"):
        fields["healthcheck"] = _health(c.obj("HealthCheck"))
    c.allow("Isolation", "default")
    c.done()
    return fields


def _mount(m: Fields) -> Mount:
    mount = Mount(
        type=m.choice("Type", MOUNT, MountType.VOLUME),
        target=m.text("Target"),
        source=m.text("Source"),
        read_only=m.flag("ReadOnly"),
    )
    m.allow("Consistency", "default")
    m.done()
    return mount


def _health(h: Fields) -> HealthCheck:
    check = HealthCheck(
        test=h.strs("Test"),
        interval=h.duration("Interval"),
        timeout=h.duration("Timeout"),
        retries=h.integer("Retries"),
        start_period=h.duration("StartPeriod"),
    )
    h.done()
    return check


def _resources(r: Fields) -> Resources:
    found = Resources(nano_cpus=r.integer("NanoCPUs"), memory_bytes=r.integer("MemoryBytes"))
    r.done()
    return found


def _restart(r: Fields) -> RestartPolicy:
    policy = RestartPolicy(
        condition=r.choice("Condition", RESTART, RestartCondition.ANY),
        delay=r.duration("Delay"),
        max_attempts=r.integer("MaxAttempts"),
        window=r.duration("Window"),
    )
    r.done()
    return policy


def _placement(p: Fields) -> Placement:
    spread = []
    for preference in p.objs("Preferences"):
        descriptor = preference.obj("Spread")
        spread.append(descriptor.text(SPREAD))
        descriptor.done()
        preference.done()
    placement = Placement(
        constraints=p.strs("Constraints"),
        max_replicas_per_node=p.integer("MaxReplicas"),
        spread=tuple(spread),
    )
    p.done()
    return placement


def _networks(parent: Fields, name: str, labels: dict[str, str]) -> tuple[str, ...]:
    """The network references; an alias is accepted only as the name `docker stack deploy`
    gives every service (its name within the stack), which Shoal does not resolve apart."""
    stack = labels.get(STACK_NAMESPACE, "")
    allowed = {name, name.removeprefix(f"{stack}_")} if stack else {name}
    targets = []
    for attachment in parent.objs("Networks"):
        targets.append(attachment.text("Target"))
        for alias in attachment.strs("Aliases"):
            if alias not in allowed:
                raise InvalidArgument(
                    f"unsupported field {attachment.path}.Aliases: Shoal does not support"
                    f" network aliases ({alias!r})"
                )
        attachment.done()
    return tuple(targets)


def _mode(m: Fields) -> tuple[ServiceMode, int, int]:
    """The mode, its replicas (a replicated job's completions) and a replicated job's most
    tasks at once (0: as many as completions). An empty object names a mode here
    ({"GlobalJob": {}}): what is given counts, empty or not."""
    given = [key for key in ("Replicated", "Global", "ReplicatedJob", "GlobalJob") if m.has(key)]
    if len(given) > 1:
        raise InvalidArgument(f"invalid field {m.path}: one mode only, not {' and '.join(given)}")
    if m.has("Global") or m.has("GlobalJob"):
        mode = ServiceMode.GLOBAL if m.has("Global") else ServiceMode.GLOBAL_JOB
        m.obj(given[0]).done()
        m.done()
        return mode, 0, 0
    if m.has("ReplicatedJob"):
        job = m.obj("ReplicatedJob")
        at_once = job.integer("MaxConcurrent", 1)
        completions = job.integer("TotalCompletions", at_once)
        job.done()
        m.done()
        return ServiceMode.REPLICATED_JOB, completions, 0 if at_once == completions else at_once
    replicated = m.obj("Replicated")
    replicas = replicated.integer("Replicas", 1)
    replicated.done()
    m.done()
    return ServiceMode.REPLICATED, replicas, 0


def _update(spec: Fields, key: str, failure: dict[str, FailureAction]) -> UpdateConfig:
    if not spec.has(key):
        spec.take(key)
        return UpdateConfig()
    u = spec.obj(key)
    default = UpdateConfig()
    config = UpdateConfig(
        parallelism=u.integer("Parallelism"),
        delay=u.duration("Delay") or default.delay,
        monitor=u.duration("Monitor") or default.monitor,
        failure_action=u.choice("FailureAction", failure, default.failure_action),
        max_failure_ratio=u.number("MaxFailureRatio"),
        order=u.choice("Order", ORDER, default.order),
    )
    u.done()
    return config


def _port(p: Fields) -> PortConfig:
    port = PortConfig(
        target=p.integer("TargetPort"),
        published=p.integer("PublishedPort"),
        protocol=p.choice("Protocol", PROTOCOL, PortProtocol.TCP),
        mode=p.choice("PublishMode", PUBLISH, PublishMode.INGRESS),
    )
    p.done()
    return port


# -- domain -> docker ----------------------------------------------------------------------------


def spec_to_json(spec: ServiceSpec) -> dict[str, Any]:
    modes: dict[ServiceMode, dict[str, Any]] = {
        ServiceMode.REPLICATED: {"Replicated": {"Replicas": spec.replicas}},
        ServiceMode.GLOBAL: {"Global": {}},
        ServiceMode.REPLICATED_JOB: {
            "ReplicatedJob": {
                "MaxConcurrent": spec.max_concurrent or spec.replicas,
                "TotalCompletions": spec.replicas,
            }
        },
        ServiceMode.GLOBAL_JOB: {"GlobalJob": {}},
    }
    return {
        "Name": spec.name,
        "Labels": spec.labels,
        "TaskTemplate": task_spec_to_json(
            spec.container, spec.reservations, spec.networks, spec.force_update
        )
        | {"RestartPolicy": _restart_json(spec.restart), "Placement": _placement_json(spec)},
        "Mode": modes[spec.mode],
        "UpdateConfig": _update_json(spec.update),
        "RollbackConfig": _update_json(spec.rollback),
        "EndpointSpec": {
            "Mode": word(ENDPOINT, spec.endpoint_mode),
            "Ports": [port_to_json(p) for p in spec.ports],
        },
    }


def task_spec_to_json(
    container: ContainerSpec,
    reservations: Resources,
    networks: tuple[str, ...],
    force_update: int,
) -> dict[str, Any]:
    return {
        "ContainerSpec": _container_json(container),
        "Resources": {
            "Limits": _resources_json(container.limits),
            "Reservations": _resources_json(reservations),
        },
        "Networks": [{"Target": n} for n in networks],
        "ForceUpdate": force_update,
        "Runtime": "container",
    }


def _container_json(c: ContainerSpec) -> dict[str, Any]:
    out: dict[str, Any] = {"Image": c.image, "Labels": c.labels, "Init": c.init}
    for key, value in (
        ("Command", list(c.entrypoint)),
        ("Args", list(c.args)),
        ("Hostname", c.hostname),
        ("Env", list(c.env)),
        ("Dir", c.workdir),
        ("User", c.user),
        ("StopSignal", c.stop_signal),
        ("ReadOnly", c.read_only),
    ):
        if value:
            out[key] = value
    if c.mounts:
        out["Mounts"] = [
            {"Type": word(MOUNT, m.type), "Source": m.source, "Target": m.target}
            | ({"ReadOnly": True} if m.read_only else {})
            for m in c.mounts
        ]
    if c.secrets:
        out["Secrets"] = references_to_json(c.secrets, "Secret")
    if c.configs:
        out["Configs"] = references_to_json(c.configs, "Config")
    if c.stop_grace_period is not None:
        out["StopGracePeriod"] = nanos(c.stop_grace_period)
    if c.healthcheck is not None:
        h = c.healthcheck
        health: dict[str, Any] = {"Test": list(h.test)}
        for key, duration in (
            ("Interval", h.interval),
            ("Timeout", h.timeout),
            ("StartPeriod", h.start_period),
        ):
            if duration is not None:
                health[key] = nanos(duration)
        if h.retries:
            health["Retries"] = h.retries
        out["HealthCheck"] = health
    return out


def _resources_json(r: Resources) -> dict[str, int]:
    return {k: v for k, v in (("NanoCPUs", r.nano_cpus), ("MemoryBytes", r.memory_bytes)) if v}


def _restart_json(r: RestartPolicy) -> dict[str, Any]:
    out: dict[str, Any] = {"Condition": word(RESTART, r.condition), "MaxAttempts": r.max_attempts}
    if r.delay is not None:
        out["Delay"] = nanos(r.delay)
    if r.window is not None:
        out["Window"] = nanos(r.window)
    return out


def _placement_json(spec: ServiceSpec) -> dict[str, Any]:
    p = spec.placement
    out: dict[str, Any] = {}
    if p.constraints:
        out["Constraints"] = list(p.constraints)
    if p.spread:
        out["Preferences"] = [{"Spread": {SPREAD: key}} for key in p.spread]
    if p.max_replicas_per_node:
        out["MaxReplicas"] = p.max_replicas_per_node
    return out


def _update_json(u: UpdateConfig) -> dict[str, Any]:
    return {
        "Parallelism": u.parallelism,
        "Delay": nanos(u.delay),
        "FailureAction": word(FAILURE_ROLLBACK, u.failure_action),
        "Monitor": nanos(u.monitor),
        "MaxFailureRatio": u.max_failure_ratio,
        "Order": word(ORDER, u.order),
    }


def port_to_json(p: PortConfig) -> dict[str, Any]:
    return {
        "Protocol": word(PROTOCOL, p.protocol),
        "TargetPort": p.target,
        "PublishedPort": p.published,
        "PublishMode": word(PUBLISH, p.mode),
    }
