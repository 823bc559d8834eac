"""Container logs: options, requests down to a node, batches up from it, messages to a client."""

from __future__ import annotations

from common import logs as d
from common.api import dispatcher_pb2 as dpb
from common.api import logs_pb2 as lpb


def log_options_to_pb(o: d.LogOptions) -> lpb.LogOptions:
    msg = lpb.LogOptions(follow=o.follow, tail=o.tail)
    if o.since_ns:
        msg.since.FromNanoseconds(o.since_ns)
    return msg


def log_options_from_pb(msg: lpb.LogOptions) -> d.LogOptions:
    return d.LogOptions(
        follow=msg.follow,
        tail=msg.tail if msg.HasField("tail") else None,
        since_ns=msg.since.ToNanoseconds() if msg.HasField("since") else 0,
    )


def log_line_to_pb(line: d.LogLine) -> lpb.LogLine:
    msg = lpb.LogLine(
        task_id=line.task_id,
        stream=lpb.LOG_STREAM_STDERR if line.stderr else lpb.LOG_STREAM_STDOUT,
        data=line.data,
    )
    msg.timestamp.FromNanoseconds(line.timestamp_ns)
    return msg


def log_line_from_pb(msg: lpb.LogLine) -> d.LogLine:
    return d.LogLine(
        task_id=msg.task_id,
        timestamp_ns=msg.timestamp.ToNanoseconds(),
        stderr=msg.stream == lpb.LOG_STREAM_STDERR,
        data=msg.data,
    )


def task_logs_to_pb(t: d.TaskLogs) -> lpb.TaskLogs:
    msg = lpb.TaskLogs(task_id=t.task_id, container_id=t.container_id, tail=t.tail)
    if t.since_ns:
        msg.since.FromNanoseconds(t.since_ns)
    return msg


def task_logs_from_pb(msg: lpb.TaskLogs) -> d.TaskLogs:
    return d.TaskLogs(
        task_id=msg.task_id,
        container_id=msg.container_id,
        tail=msg.tail if msg.HasField("tail") else None,
        since_ns=msg.since.ToNanoseconds() if msg.HasField("since") else 0,
    )


def subscribe_logs_from_pb(msg: lpb.SubscribeLogs) -> d.SubscribeLogs:
    return d.SubscribeLogs(
        subscription_id=msg.subscription_id,
        follow=msg.follow,
        tasks=tuple(task_logs_from_pb(t) for t in msg.tasks),
    )


def log_request_to_pb(r: d.LogRequest) -> dpb.ManagerMessage:
    """A request for a node, as its session carries it."""
    if isinstance(r, d.CancelLogs):
        return dpb.ManagerMessage(cancel_logs=lpb.CancelLogs(subscription_id=r.subscription_id))
    request = lpb.SubscribeLogs(
        subscription_id=r.subscription_id,
        follow=r.follow,
        tasks=[task_logs_to_pb(t) for t in r.tasks],
    )
    return dpb.ManagerMessage(subscribe_logs=request)


def published_logs_to_pb(p: d.PublishedLogs) -> lpb.PublishLogsMessage:
    return lpb.PublishLogsMessage(
        subscription_id=p.subscription_id,
        lines=[log_line_to_pb(line) for line in p.lines],
        errors=p.errors,
        close=p.close,
    )


def published_logs_from_pb(msg: lpb.PublishLogsMessage) -> d.PublishedLogs:
    return d.PublishedLogs(
        subscription_id=msg.subscription_id,
        lines=tuple(log_line_from_pb(line) for line in msg.lines),
        errors=tuple(msg.errors),
        close=msg.close,
    )


def service_logs_to_pb(s: d.ServiceLogs) -> lpb.ServiceLogsMessage:
    return lpb.ServiceLogsMessage(
        sources=[
            lpb.LogSource(
                task_id=src.task_id,
                service_name=src.service_name,
                slot=src.slot,
                node_id=src.node_id,
                node_name=src.node_name,
            )
            for src in s.sources
        ],
        lines=[log_line_to_pb(line) for line in s.lines],
        errors=[lpb.LogError(node=e.node, message=e.message) for e in s.errors],
    )


def service_logs_from_pb(msg: lpb.ServiceLogsMessage) -> d.ServiceLogs:
    return d.ServiceLogs(
        sources=tuple(
            d.LogSource(
                task_id=src.task_id,
                service_name=src.service_name,
                slot=src.slot,
                node_id=src.node_id,
                node_name=src.node_name,
            )
            for src in msg.sources
        ),
        lines=tuple(log_line_from_pb(line) for line in msg.lines),
        errors=tuple(d.LogError(node=e.node, message=e.message) for e in msg.errors),
    )
