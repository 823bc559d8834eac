"""`--update-*` and `--rollback-*` flags: how a rolling update and a rollback replace tasks."""

from __future__ import annotations

import argparse
from dataclasses import replace
from datetime import timedelta

from cli import placement_flags
from common import durations
from common.errors import ShoalError
from common.model import FailureAction, ServiceSpec, UpdateConfig, UpdateOrder

ACTIONS = {a.name.lower(): a for a in FailureAction}
ORDERS = {o.name.lower().replace("_", "-"): o for o in UpdateOrder}
_ZERO = {"0", "0s", "0ms", "0m", "0h"}


def _duration(text: str) -> timedelta:
    """docker's durations, where 0s (no delay, no monitoring) is allowed."""
    if text.strip() in _ZERO:
        return timedelta(0)
    try:
        return durations.parse(text)
    except ShoalError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _ratio(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(
            f"invalid failure ratio {text!r}: expected a number from 0 to 1"
        )
    return value


def add(parser: argparse.ArgumentParser) -> None:
    """Every flag defaults to None: `create` takes the defaults, `update` keeps the service's."""
    for which, actions in (("update", list(ACTIONS)), ("rollback", ["pause", "continue"])):
        parser.add_argument(
            f"--{which}-parallelism",
            type=placement_flags.count,
            metavar="N",
            help=f"Tasks replaced at once during a {which} (default 1; 0: all)",
        )
        parser.add_argument(
            f"--{which}-delay",
            type=_duration,
            metavar="DURATION",
            help=f"Wait between batches of a {which} (default 0s)",
        )
        parser.add_argument(
            f"--{which}-monitor",
            type=_duration,
            metavar="DURATION",
            help=f"How long each new task is watched for failure during a {which} (default 5s)",
        )
        parser.add_argument(
            f"--{which}-failure-action",
            choices=actions,
            help=f"What a failed {which} does (default pause)",
        )
        parser.add_argument(
            f"--{which}-max-failure-ratio",
            type=_ratio,
            metavar="RATIO",
            help=f"Share of tasks that may fail during a {which} (default 0)",
        )
        parser.add_argument(
            f"--{which}-order",
            choices=list(ORDERS),
            help="Stop the old task first, or start the new one first (default stop-first)",
        )


def _apply(config: UpdateConfig, args: argparse.Namespace, which: str) -> UpdateConfig:
    def given(flag: str) -> object:
        return getattr(args, f"{which}_{flag}")

    if (value := given("parallelism")) is not None:
        config = replace(config, parallelism=int(str(value)))
    if isinstance(value := given("delay"), timedelta):
        config = replace(config, delay=value)
    if isinstance(value := given("monitor"), timedelta):
        config = replace(config, monitor=value)
    if (value := given("failure_action")) is not None:
        config = replace(config, failure_action=ACTIONS[str(value)])
    if isinstance(value := given("max_failure_ratio"), float):
        config = replace(config, max_failure_ratio=value)
    if (value := given("order")) is not None:
        config = replace(config, order=ORDERS[str(value)])
    return config


def apply(spec: ServiceSpec, args: argparse.Namespace) -> ServiceSpec:
    return replace(
        spec,
        update=_apply(spec.update, args, "update"),
        rollback=_apply(spec.rollback, args, "rollback"),
    )


def _document(config: UpdateConfig) -> dict[str, object]:
    return {
        "Parallelism": config.parallelism,
        "Delay": round(config.delay.total_seconds() * 1e9),
        "FailureAction": config.failure_action.name.lower(),
        "Monitor": round(config.monitor.total_seconds() * 1e9),
        "MaxFailureRatio": config.max_failure_ratio,
        "Order": config.order.name.lower().replace("_", "-"),
    }


def document(spec: ServiceSpec) -> dict[str, object]:
    """As `docker service inspect` shows them: durations in nanoseconds."""
    return {"UpdateConfig": _document(spec.update), "RollbackConfig": _document(spec.rollback)}
