"""`--health-*` and `--no-healthcheck`: docker's names, on `service create` and `service update`."""

from __future__ import annotations

import argparse
from dataclasses import replace
from datetime import timedelta
from typing import TypeVar

from common import durations
from common.errors import InvalidArgument, ShoalError
from common.model import HEALTH_NONE, HEALTH_SHELL, HealthCheck

T = TypeVar("T")

_TUNING = ("health_interval", "health_timeout", "health_retries", "health_start_period")


def _duration(text: str) -> timedelta:
    try:
        return durations.parse(text)
    except ShoalError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _retries(text: str) -> int:
    if not (text.isascii() and text.isdigit()):
        raise argparse.ArgumentTypeError(f"invalid count {text!r}: expected 0 or more")
    return int(text)


def add(parser: argparse.ArgumentParser) -> None:
    """Every flag defaults to None: `update` keeps what the service has."""
    parser.add_argument("--health-cmd", metavar="COMMAND", help="Command to run to check health")
    parser.add_argument(
        "--health-interval",
        type=_duration,
        metavar="DURATION",
        help="Time between running the check (default 30s)",
    )
    parser.add_argument(
        "--health-timeout",
        type=_duration,
        metavar="DURATION",
        help="Maximum time to allow one check to run (default 30s)",
    )
    parser.add_argument(
        "--health-retries",
        type=_retries,
        metavar="N",
        help="Consecutive failures needed to report unhealthy (default 3)",
    )
    parser.add_argument(
        "--health-start-period",
        type=_duration,
        metavar="DURATION",
        help="Start period for the container to initialize before failures count (default 0s)",
    )
    parser.add_argument(
        "--no-healthcheck",
        action="store_true",
        help="Disable any container-specified HEALTHCHECK",
    )


def apply(current: HealthCheck | None, args: argparse.Namespace) -> HealthCheck | None:
    given = args.health_cmd is not None or any(getattr(args, f) is not None for f in _TUNING)
    if args.no_healthcheck:
        if given:
            raise InvalidArgument("--no-healthcheck conflicts with --health-* options")
        return HealthCheck(test=HEALTH_NONE)
    if not given:
        return current
    check = HealthCheck() if current is None or current.disabled else current
    if args.health_cmd is not None:
        # An empty command goes back to the image's own test, as in docker.
        check = replace(check, test=(HEALTH_SHELL, args.health_cmd) if args.health_cmd else ())
    return replace(
        check,
        interval=_pick(args.health_interval, check.interval),
        timeout=_pick(args.health_timeout, check.timeout),
        retries=_pick(args.health_retries, check.retries),
        start_period=_pick(args.health_start_period, check.start_period),
    )


def _pick(given: T | None, current: T) -> T:
    return current if given is None else given


def _nanoseconds(value: timedelta) -> int:
    return round(value.total_seconds() * 1e9)


def document(check: HealthCheck) -> dict[str, object]:
    """As `docker service inspect` shows it: durations in nanoseconds, unset ones left out."""
    doc: dict[str, object] = {"Test": list(check.test)}
    for key, value in (
        ("Interval", check.interval),
        ("Timeout", check.timeout),
        ("StartPeriod", check.start_period),
    ):
        if value is not None:
            doc[key] = _nanoseconds(value)
    if check.retries:
        doc["Retries"] = check.retries
    return doc
