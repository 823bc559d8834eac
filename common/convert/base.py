"""Times, durations, enums and the small messages every other conversion uses."""

from __future__ import annotations

import enum
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from common import model as m
from common.api import types_pb2 as pb
from common.errors import InvalidArgument


def ts_to_pb(value: datetime) -> Timestamp:
    # By hand: Timestamp.FromDatetime is pure Python and was a tenth of the conversion work of
    # a burst of tasks (each task write converts three or more timestamps).
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    delta = value - m.EPOCH
    return Timestamp(seconds=delta.days * 86_400 + delta.seconds, nanos=delta.microseconds * 1000)


def ts_from_pb(ts: Timestamp) -> datetime:
    # By hand too: Timestamp.ToDatetime was the largest part of decoding a task (four times
    # per task; a restarted manager decodes every task it stores, an agent its full set).
    return m.EPOCH + timedelta(seconds=ts.seconds, microseconds=ts.nanos // 1000)


def duration_to_pb(value: timedelta) -> Duration:
    d = Duration()
    d.FromTimedelta(value)
    return d


def duration_from_pb(value: Duration, field: str) -> timedelta:
    """InvalidArgument naming field for a duration Python cannot hold (or, in protobuf releases
    that check, one outside protobuf's range)."""
    try:
        return value.ToTimedelta()
    except (OverflowError, ValueError):
        raise InvalidArgument(f"invalid {field}: {value.seconds}s is out of range") from None


E = TypeVar("E", bound=enum.IntEnum)


def enum_from_pb(kind: type[E], value: int, field: str) -> E:
    """value as kind, or InvalidArgument naming field and the values it takes: a number the
    enum does not hold comes from a newer client, or a hostile one."""
    try:
        return kind(value)
    except ValueError:
        names = ", ".join(e.name.lower() for e in kind)
        raise InvalidArgument(f"invalid {field} {value}: expected one of {names}") from None


def meta_to_pb(meta: m.Meta) -> pb.Meta:
    return pb.Meta(
        version=meta.version,
        created_at=ts_to_pb(meta.created_at),
        updated_at=ts_to_pb(meta.updated_at),
    )


def meta_from_pb(msg: pb.Meta) -> m.Meta:
    return m.Meta(
        version=msg.version,
        created_at=ts_from_pb(msg.created_at),
        updated_at=ts_from_pb(msg.updated_at),
    )


def resources_to_pb(r: m.Resources) -> pb.Resources:
    return pb.Resources(nano_cpus=r.nano_cpus, memory_bytes=r.memory_bytes)


def resources_from_pb(msg: pb.Resources) -> m.Resources:
    return m.Resources(nano_cpus=msg.nano_cpus, memory_bytes=msg.memory_bytes)


def duration_field(parent: Message, name: str, field: str) -> timedelta | None:
    """A Duration field of parent, None when unset; field names it in an error."""
    if not parent.HasField(name):
        return None
    value: Duration = getattr(parent, name)
    return duration_from_pb(value, field)
