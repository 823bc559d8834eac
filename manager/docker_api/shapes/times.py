"""Times and durations as docker writes them: RFC 3339 with fractions, integer nanoseconds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from common.model import EPOCH

# Go's zero time, which docker writes for a time never set.
ZERO_TIME = "0001-01-01T00:00:00Z"


def timestamp(moment: datetime) -> str:
    if moment == EPOCH:
        return ZERO_TIME
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def nanos(duration: timedelta) -> int:
    return duration // timedelta(microseconds=1) * 1000


def unix_nanos(moment: datetime) -> int:
    return nanos(moment - EPOCH)


def log_timestamp(unix_ns: int) -> str:
    """A log line's time as docker writes it: RFC 3339 with nine digits of fraction."""
    seconds, fraction = divmod(unix_ns, 1_000_000_000)
    moment = datetime.fromtimestamp(seconds, UTC)
    return f"{moment.strftime('%Y-%m-%dT%H:%M:%S')}.{fraction:09d}Z"
