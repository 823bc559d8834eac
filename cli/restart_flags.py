"""`--restart-*` flags: docker's names, on `service create` and `service update` alike."""

from __future__ import annotations

import argparse
from dataclasses import replace
from datetime import timedelta

from cli import placement_flags
from common import durations
from common.errors import ShoalError
from common.model import RestartCondition, RestartPolicy

CONDITIONS = {c.name.lower().replace("_", "-"): c for c in RestartCondition}


def _duration(text: str) -> timedelta:
    try:
        return durations.parse(text)
    except ShoalError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add(parser: argparse.ArgumentParser) -> None:
    """Every flag defaults to None: `create` fills in the policy's defaults, `update` keeps
    what the service has."""
    parser.add_argument(
        "--restart-condition",
        choices=list(CONDITIONS),
        help='Restart when the task ends: "any" (default), "on-failure" or "none"',
    )
    parser.add_argument(
        "--restart-delay",
        type=_duration,
        metavar="DURATION",
        help="First step of the backoff between restarts (default 1s, doubling to 30s)",
    )
    parser.add_argument(
        "--restart-max-attempts",
        type=placement_flags.count,
        metavar="N",
        help="Restarts allowed before giving up (default 0: no limit)",
    )
    parser.add_argument(
        "--restart-window",
        type=_duration,
        metavar="DURATION",
        help="Window in which restarts count towards the limit (default: unbounded)",
    )


def apply(policy: RestartPolicy, args: argparse.Namespace) -> RestartPolicy:
    if args.restart_condition is not None:
        policy = replace(policy, condition=CONDITIONS[args.restart_condition])
    if args.restart_delay is not None:
        policy = replace(policy, delay=args.restart_delay)
    if args.restart_max_attempts is not None:
        policy = replace(policy, max_attempts=args.restart_max_attempts)
    if args.restart_window is not None:
        policy = replace(policy, window=args.restart_window)
    return policy


def document(policy: RestartPolicy) -> dict[str, object]:
    """As `docker service inspect` shows it: durations in nanoseconds."""
    doc: dict[str, object] = {
        "Condition": policy.condition.name.lower().replace("_", "-"),
        "MaxAttempts": policy.max_attempts,
    }
    if policy.delay is not None:
        doc["Delay"] = round(policy.delay.total_seconds() * 1e9)
    if policy.window is not None:
        doc["Window"] = round(policy.window.total_seconds() * 1e9)
    return doc
