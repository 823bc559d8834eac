"""Which of a task's log lines are new: counted per output stream, since the engine copies
stdout and stderr on threads of their own and a stderr line may come after stdout lines stamped
later than it (the `service logs` test lost such a line now and then)."""

from __future__ import annotations

from common.logs import LogLine, LogOptions
from manager.logbroker.subscription import Position, Stream, Subscription
from tests.unit.builders import task


def subscription() -> Subscription:
    sub = Subscription("sub1", LogOptions(), "svc1", "")
    sub.add(task("t1", node_id="n1", container_id="c1"))
    return sub


def line(stamp: int, data: bytes, *, stderr: bool = False) -> LogLine:
    return LogLine("t1", stamp, stderr, data)


def test_a_stderr_line_stamped_before_stdout_lines_it_follows_is_kept() -> None:
    sub = subscription()
    positions: dict[Stream, Position] = {}
    upload = [line(10, b"line 1"), line(20, b"line 2"), line(15, b"oops", stderr=True)]
    assert [sub.accept("n1", one, positions) for one in upload] == [True, True, True]


def test_a_stream_that_starts_over_repeats_nothing_on_either_stream() -> None:
    """After a reconnect the node sends again from the earliest stream's last stamp: what each
    stream already sent is dropped, what is new on either is kept."""
    sub = subscription()
    first: dict[Stream, Position] = {}
    for one in (line(10, b"a"), line(15, b"oops", stderr=True), line(20, b"b")):
        assert sub.accept("n1", one, first)
    [request] = sub.requests_for("n1")
    assert request.since_ns == 15
    again: dict[Stream, Position] = {}
    upload = [
        line(15, b"oops", stderr=True),
        line(20, b"b"),
        line(25, b"c"),
        line(30, b"late", stderr=True),
    ]
    assert [sub.accept("n1", one, again) for one in upload] == [False, False, True, True]


def test_lines_of_another_node_are_not_taken() -> None:
    assert not subscription().accept("n2", line(10, b"a"), {})
