"""What the Control API checks before anything is stored: a request's service spec, bounded,
converted and validated as a whole."""

from __future__ import annotations

from datetime import timedelta

from common import convert, publish
from common.api import types_pb2 as types_pb
from common.constraints import parse as parse_constraint
from common.errors import InvalidArgument
from common.limits import MAX_SPEC_BYTES
from common.model import FailureAction, RestartCondition, ServiceMode, ServiceSpec, UpdateConfig
from common.names import check_name
from manager.container_checks import validate_container
from manager.scheduler import SPREAD_PREFIX
from manager.spec_limits import check_spec_strings

# Bounds that keep one typo from making a transaction or a timer the manager cannot handle.
MAX_REPLICAS = 100_000
MAX_RESTART_DURATION = timedelta(days=365)


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
    check_name("service", spec.name)
    for alias in spec.aliases:
        check_name("network alias", alias)
    if not spec.container.image.strip():
        raise InvalidArgument("a service needs an image")
    if spec.mode.is_global:
        for flag, used in (
            ("replicas", spec.replicas != 0),
            ("max-concurrent", spec.max_concurrent != 0),
            ("replicas-max-per-node", spec.placement.max_replicas_per_node != 0),
            ("placement-pref", bool(spec.placement.spread)),
        ):
            if used:
                raise InvalidArgument(f"--{flag} can only be used with replicated mode")
    if spec.mode.is_job and spec.restart.condition == RestartCondition.ANY:
        raise InvalidArgument(
            "a job's restart condition is on-failure or none: a task that completes is not"
            " run again"
        )
    if spec.max_concurrent and spec.mode != ServiceMode.REPLICATED_JOB:
        raise InvalidArgument("--max-concurrent can only be used with replicated-job mode")
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
