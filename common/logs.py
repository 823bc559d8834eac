"""Container logs as they flow: what a client asks for, what the manager asks a node for, the
lines a node sends back and what the client is sent. Times are nanoseconds since the epoch, as
the engine stamps them; the wire forms are in common.convert.logs."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LogOptions:
    # Keep sending lines as they are written, and from tasks started later.
    follow: bool = False
    # At most this many lines per task, the last ones; None: all.
    tail: int | None = None
    # Only lines stamped at or after this time; 0: from the start.
    since_ns: int = 0


@dataclass(frozen=True)
class LogLine:
    task_id: str
    timestamp_ns: int
    stderr: bool
    # One line as the container wrote it, without its line end; not necessarily UTF-8.
    data: bytes


# -- manager -> node ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskLogs:
    """One task's lines to read from its container; a resumed subscription asks from the last
    line the manager has seen (since_ns, without tail)."""

    task_id: str
    container_id: str
    tail: int | None = None
    since_ns: int = 0


@dataclass(frozen=True)
class SubscribeLogs:
    """Send these tasks' lines on a stream of the subscription's own; a subscription the node
    already serves gains the tasks it does not have yet."""

    subscription_id: str
    follow: bool
    tasks: tuple[TaskLogs, ...]


@dataclass(frozen=True)
class CancelLogs:
    subscription_id: str


# What the manager asks of a node on its session.
LogRequest = SubscribeLogs | CancelLogs


# -- node -> manager ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PublishedLogs:
    """A batch of one subscription's lines from a node, with why some task's lines could not
    be read (one sentence each); close: the node has sent all it has (only without follow)."""

    subscription_id: str
    lines: tuple[LogLine, ...] = ()
    errors: tuple[str, ...] = ()
    close: bool = False


# -- manager -> client -------------------------------------------------------------------------


@dataclass(frozen=True)
class LogSource:
    """Who wrote a task's lines; sent once, with the task's first lines."""

    task_id: str
    service_name: str
    slot: int
    node_id: str
    node_name: str


@dataclass(frozen=True)
class LogError:
    """A node whose lines could not be had (down, gone silent, or a container it could not
    read)."""

    node: str
    message: str


@dataclass(frozen=True)
class ServiceLogs:
    """What a client is sent: lines, the sources of the tasks they are the first of, and the
    nodes whose lines could not be had."""

    sources: tuple[LogSource, ...] = ()
    lines: tuple[LogLine, ...] = ()
    errors: tuple[LogError, ...] = ()
