"""What the manager refuses in a service's container spec, so that no task of it is made only
to fail at container creation."""

from __future__ import annotations

import re
import signal
from datetime import timedelta

from common import mounts, templates
from common.errors import InvalidArgument, ShoalError
from common.model import HEALTH_NONE, HEALTH_SHELL, ContainerSpec, HealthCheck

# A typo like 10000h would hold a task's stop for more than a year.
MAX_STOP_GRACE = timedelta(days=1)
# The engine's floor for a health check's durations, and a ceiling past which a typo would keep
# a task starting (or unchecked) for more than a day.
MIN_HEALTH_DURATION = timedelta(milliseconds=1)
MAX_HEALTH_DURATION = timedelta(days=1)
# The engine reads retries as a Go int32.
MAX_HEALTH_RETRIES = 2**31 - 1
_SIGNAL_NAMES = {s.name.removeprefix("SIG") for s in signal.Signals}
_REALTIME = re.compile(r"^RT(MIN\+\d+|MAX-\d+)$")


def validate_container(c: ContainerSpec) -> None:
    try:
        templates.check(c.hostname)
    except ShoalError as exc:
        raise InvalidArgument(f"invalid hostname: {exc}") from None
    mounts.check_all(c.mounts)
    if c.workdir and not c.workdir.startswith("/"):
        raise InvalidArgument(f"invalid workdir {c.workdir!r}: must be an absolute path")
    if c.stop_grace_period is not None and not (
        timedelta(0) <= c.stop_grace_period <= MAX_STOP_GRACE
    ):
        raise InvalidArgument("the stop grace period must be between 0 and 24h")
    if c.stop_signal and not _is_signal(c.stop_signal):
        raise InvalidArgument(f"invalid stop signal {c.stop_signal!r}: expected e.g. SIGTERM or 15")
    if c.healthcheck is not None:
        _validate_health(c.healthcheck)


def _is_signal(text: str) -> bool:
    """Docker's reading: a number, or a name with or without SIG, in any case."""
    if text.isascii() and text.isdigit():
        return 0 < int(text) <= 64
    name = text.upper().removeprefix("SIG")
    return name in _SIGNAL_NAMES or _REALTIME.match(name) is not None


def _validate_health(check: HealthCheck) -> None:
    test = check.test
    if test and test != HEALTH_NONE:
        kind, *command = test
        if kind not in (HEALTH_SHELL, "CMD") or not command or not command[0]:
            raise InvalidArgument(
                f"invalid health check test {list(test)}: expected [], ['NONE'],"
                " ['CMD-SHELL', COMMAND] or ['CMD', ARG...]"
            )
    for flag, value in (
        ("interval", check.interval),
        ("timeout", check.timeout),
        ("start-period", check.start_period),
    ):
        if value is not None and not MIN_HEALTH_DURATION <= value <= MAX_HEALTH_DURATION:
            raise InvalidArgument(f"--health-{flag} must be between 1ms and 24h")
    if not 0 <= check.retries <= MAX_HEALTH_RETRIES:
        raise InvalidArgument(f"--health-retries must be between 0 and {MAX_HEALTH_RETRIES}")
