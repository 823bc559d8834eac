"""common.convert.logs: each log message, domain -> wire bytes -> domain, comes back equal."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from common import convert
from common.api import dispatcher_pb2 as dpb
from common.api import logs_pb2 as lpb
from common.logs import (
    CancelLogs,
    LogError,
    LogLine,
    LogOptions,
    LogSource,
    PublishedLogs,
    ServiceLogs,
    SubscribeLogs,
    TaskLogs,
)

# Nanoseconds a Timestamp holds well inside its range (years 1653 to 2286), before the epoch too.
stamps = st.integers(min_value=-(10**19), max_value=10**19)
uint64 = st.integers(min_value=0, max_value=2**64 - 1)
words = st.text(max_size=20)

options = st.builds(LogOptions, st.booleans(), st.none() | uint64, stamps)
lines = st.builds(LogLine, words, stamps, st.booleans(), st.binary(max_size=40))
task_logs = st.builds(TaskLogs, words, words, st.none() | uint64, stamps)
subscribes = st.builds(SubscribeLogs, words, st.booleans(), st.tuples(task_logs, task_logs))
published = st.builds(
    PublishedLogs, words, st.lists(lines, max_size=3).map(tuple), st.lists(words).map(tuple)
)
sources = st.builds(LogSource, words, words, uint64, words, words)
service_logs = st.builds(
    ServiceLogs,
    st.lists(sources, max_size=3).map(tuple),
    st.lists(lines, max_size=3).map(tuple),
    st.lists(st.builds(LogError, words, words), max_size=3).map(tuple),
)


@given(options)
def test_options_round_trip(o: LogOptions) -> None:
    wire = convert.log_options_to_pb(o).SerializeToString()
    assert convert.log_options_from_pb(lpb.LogOptions.FromString(wire)) == o


@given(lines)
def test_line_round_trip(line: LogLine) -> None:
    wire = convert.log_line_to_pb(line).SerializeToString()
    assert convert.log_line_from_pb(lpb.LogLine.FromString(wire)) == line


@given(task_logs)
def test_task_logs_round_trip(t: TaskLogs) -> None:
    wire = convert.task_logs_to_pb(t).SerializeToString()
    assert convert.task_logs_from_pb(lpb.TaskLogs.FromString(wire)) == t


@given(subscribes)
def test_subscribe_round_trip_on_the_session(s: SubscribeLogs) -> None:
    wire = dpb.ManagerMessage.FromString(convert.log_request_to_pb(s).SerializeToString())
    assert wire.WhichOneof("kind") == "subscribe_logs"
    assert convert.subscribe_logs_from_pb(wire.subscribe_logs) == s


def test_cancel_goes_on_the_session_as_cancel_logs() -> None:
    wire = convert.log_request_to_pb(CancelLogs("sub1"))
    assert wire.WhichOneof("kind") == "cancel_logs"
    assert wire.cancel_logs.subscription_id == "sub1"


@given(published, st.booleans())
def test_published_round_trip(p: PublishedLogs, close: bool) -> None:
    p = PublishedLogs(p.subscription_id, p.lines, p.errors, close)
    wire = convert.published_logs_to_pb(p).SerializeToString()
    assert convert.published_logs_from_pb(lpb.PublishLogsMessage.FromString(wire)) == p


@given(service_logs)
def test_service_logs_round_trip(s: ServiceLogs) -> None:
    wire = convert.service_logs_to_pb(s).SerializeToString()
    assert convert.service_logs_from_pb(lpb.ServiceLogsMessage.FromString(wire)) == s


def test_unset_tail_and_since_stay_unset_on_the_wire() -> None:
    # The agent reads an unset tail as "all lines", unlike tail 0 ("none").
    msg = convert.task_logs_to_pb(TaskLogs("t1", "c1"))
    assert not msg.HasField("tail")
    assert not msg.HasField("since")
    assert convert.task_logs_to_pb(TaskLogs("t1", "c1", tail=0)).HasField("tail")
