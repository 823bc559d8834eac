"""A service's `deploy:` section as Shoal's spec: mode, replicas, placement, resources, restart
policy, update and rollback configs, endpoint mode and the service's labels."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from cli.stack import fields
from cli.stack.fields import Reader
from common.errors import InvalidArgument
from common.model import (
    EndpointMode,
    FailureAction,
    Placement,
    Resources,
    RestartCondition,
    RestartPolicy,
    ServiceMode,
    ServiceSpec,
    UpdateConfig,
    UpdateOrder,
)

_DEPLOY = (
    "mode",
    "replicas",
    "placement",
    "resources",
    "restart_policy",
    "update_config",
    "rollback_config",
    "endpoint_mode",
    "labels",
)
_MODES = {
    "replicated": ServiceMode.REPLICATED,
    "global": ServiceMode.GLOBAL,
    "replicated-job": ServiceMode.REPLICATED_JOB,
    "global-job": ServiceMode.GLOBAL_JOB,
}
_CONDITIONS = {"any": RestartCondition.ANY, "on-failure": RestartCondition.ON_FAILURE}
_CONDITIONS["none"] = RestartCondition.NONE
_ACTIONS = {a.name.lower(): a for a in FailureAction}
_ORDERS = {o.name.lower().replace("_", "-"): o for o in UpdateOrder}
_ENDPOINT_MODES = {"vip": EndpointMode.VIP, "dnsrr": EndpointMode.DNSRR}
NANO = 1_000_000_000


def apply(spec: ServiceSpec, section: Any, path: str, reader: Reader) -> ServiceSpec:
    """spec with what section says; spec's labels are kept (the stack's own label among them)."""
    deploy = reader.keys(fields.mapping(section, path), path, _DEPLOY)
    mode = _MODES[fields.choice(deploy.get("mode", "replicated"), f"{path}.mode", _MODES)]
    replicas = 0 if mode.is_global else 1
    if "replicas" in deploy:
        if mode.is_global:
            raise InvalidArgument(
                f"{path}.replicas: can only be used with replicated or replicated-job mode"
            )
        # A replicated job's replicas are docker's TotalCompletions and MaxConcurrent both:
        # max_concurrent 0 runs replicas at once.
        replicas = fields.count(deploy["replicas"], f"{path}.replicas")
    spec = replace(spec, mode=mode, replicas=replicas)
    if mode.is_job:
        # A job's task that completes is not run again, as `service create` makes it.
        spec = replace(spec, restart=RestartPolicy(condition=RestartCondition.ON_FAILURE))
    if "labels" in deploy:
        own = fields.labels(deploy["labels"], f"{path}.labels")
        spec = replace(spec, labels={**own, **spec.labels})
    if "placement" in deploy:
        spec = replace(spec, placement=_placement(deploy["placement"], f"{path}.placement", reader))
    if "resources" in deploy:
        spec = _resources(spec, deploy["resources"], f"{path}.resources", reader)
    if "restart_policy" in deploy:
        # A job's condition, when the file gives none, is the one its default policy has.
        condition = "on-failure" if mode.is_job else "any"
        restart = _restart(deploy["restart_policy"], f"{path}.restart_policy", reader, condition)
        if mode.is_job and restart.condition is RestartCondition.ANY:
            raise InvalidArgument(
                f"{path}.restart_policy.condition: a job's is on-failure or none: a task that"
                " completes is not run again"
            )
        spec = replace(spec, restart=restart)
    if "update_config" in deploy:
        update = _update(deploy["update_config"], f"{path}.update_config", reader)
        spec = replace(spec, update=update)
    if "rollback_config" in deploy:
        rollback = _update(deploy["rollback_config"], f"{path}.rollback_config", reader)
        spec = replace(spec, rollback=rollback)
    if "endpoint_mode" in deploy:
        written = fields.choice(deploy["endpoint_mode"], f"{path}.endpoint_mode", _ENDPOINT_MODES)
        spec = replace(spec, endpoint_mode=_ENDPOINT_MODES[written])
    return spec


def _placement(section: Any, path: str, reader: Reader) -> Placement:
    placement = reader.keys(
        fields.mapping(section, path), path, ("constraints", "preferences", "max_replicas_per_node")
    )
    spread = []
    for index, preference in enumerate(fields.items(placement.get("preferences", []), path)):
        where = f"{path}.preferences[{index}]"
        spread.append(fields.text(fields.mapping(preference, where).get("spread"), where))
    return Placement(
        constraints=fields.words(placement.get("constraints", []), f"{path}.constraints"),
        max_replicas_per_node=fields.count(
            placement.get("max_replicas_per_node", 0), f"{path}.max_replicas_per_node"
        ),
        spread=tuple(spread),
    )


def _resources(spec: ServiceSpec, section: Any, path: str, reader: Reader) -> ServiceSpec:
    resources = reader.keys(fields.mapping(section, path), path, ("limits", "reservations"))
    if "limits" in resources:
        limits = _amounts(resources["limits"], f"{path}.limits", reader)
        spec = replace(spec, container=replace(spec.container, limits=limits))
    if "reservations" in resources:
        spec = replace(
            spec, reservations=_amounts(resources["reservations"], f"{path}.reservations", reader)
        )
    return spec


def _amounts(section: Any, path: str, reader: Reader) -> Resources:
    amounts = reader.keys(fields.mapping(section, path), path, ("cpus", "memory"))
    cpus = fields.number(amounts.get("cpus", 0), f"{path}.cpus")
    if cpus < 0:
        raise InvalidArgument(f"{path}.cpus: must not be negative")
    return Resources(
        nano_cpus=round(cpus * NANO),
        memory_bytes=fields.count(amounts.get("memory", 0), f"{path}.memory"),
    )


def _restart(section: Any, path: str, reader: Reader, condition: str) -> RestartPolicy:
    policy = reader.keys(
        fields.mapping(section, path), path, ("condition", "delay", "max_attempts", "window")
    )
    condition = fields.choice(policy.get("condition", condition), f"{path}.condition", _CONDITIONS)
    return RestartPolicy(
        condition=_CONDITIONS[condition],
        delay=fields.duration(policy["delay"], f"{path}.delay") if "delay" in policy else None,
        max_attempts=fields.count(policy.get("max_attempts", 0), f"{path}.max_attempts"),
        window=fields.duration(policy["window"], f"{path}.window") if "window" in policy else None,
    )


def _update(section: Any, path: str, reader: Reader) -> UpdateConfig:
    config = reader.keys(
        fields.mapping(section, path),
        path,
        ("parallelism", "delay", "failure_action", "monitor", "max_failure_ratio", "order"),
    )
    default = UpdateConfig()
    action = fields.choice(
        config.get("failure_action", "pause"), f"{path}.failure_action", _ACTIONS
    )
    order = fields.choice(config.get("order", "stop-first"), f"{path}.order", _ORDERS)
    return UpdateConfig(
        parallelism=fields.count(config.get("parallelism", 1), f"{path}.parallelism"),
        delay=fields.duration(config["delay"], f"{path}.delay")
        if "delay" in config
        else default.delay,
        monitor=fields.duration(config["monitor"], f"{path}.monitor")
        if "monitor" in config
        else default.monitor,
        failure_action=_ACTIONS[action],
        max_failure_ratio=fields.number(
            config.get("max_failure_ratio", 0), f"{path}.max_failure_ratio"
        ),
        order=_ORDERS[order],
    )
