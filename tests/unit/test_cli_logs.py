"""How `shoal service logs` reads its flags and lays out lines, without a manager."""

from __future__ import annotations

import argparse
import io
from datetime import UTC, datetime, timedelta

import pytest

from cli import logs
from common.logs import LogError, LogLine, LogSource, ServiceLogs

NS = 1_000_000_000
WEB = LogSource("abcdefghijklmnopqrstuvwxy", "web", 2, "node0id", "node1")
CRON = LogSource("zyxwvutsrqponmlkjihgfedcb", "cron", 0, "node9id", "")


def printed(batch: ServiceLogs, **flags: bool) -> tuple[bytes, bytes, bool]:
    out, err = io.BytesIO(), io.BytesIO()
    options = {"timestamps": False, "task_ids": True, "trunc": True, **flags}
    printer = logs.Printer(out=out, err=err, **options)
    printer.write(batch)
    return out.getvalue(), err.getvalue(), printer.failed


class TestSince:
    def test_rfc3339_time(self) -> None:
        assert logs._since("2024-05-16T22:52:44.5Z") == 1715899964 * NS + NS // 2

    def test_unix_time_is_exact(self) -> None:
        assert logs._since("1715899964.000000001") == 1715899964 * NS + 1

    def test_duration_counts_back_from_now(self) -> None:
        expected = (datetime.now(UTC) - timedelta(minutes=10)).timestamp() * NS
        assert abs(logs._since("10m") - expected) < 5 * NS

    def test_anything_else_is_a_usage_error(self) -> None:
        with pytest.raises(argparse.ArgumentTypeError, match="invalid since"):
            logs._since("yesterday")


class TestTail:
    @pytest.mark.parametrize(("text", "count"), [("all", None), ("0", 0), ("7", 7), ("-1", None)])
    def test_counts(self, text: str, count: int | None) -> None:
        assert logs._tail(text) == count

    def test_not_a_count(self) -> None:
        with pytest.raises(argparse.ArgumentTypeError, match="invalid tail"):
            logs._tail("ten")


class TestPrinter:
    def test_docker_layout(self) -> None:
        """`name.slot.task12@node    | line`; a global task goes by its node ID; stderr lines on
        stderr."""
        batch = ServiceLogs(
            sources=(WEB, CRON),
            lines=(
                LogLine(WEB.task_id, 0, False, b"hello"),
                LogLine(CRON.task_id, 0, True, b"\xffbad"),
            ),
        )
        out, err, failed = printed(batch)
        assert out == b"web.2.abcdefghijkl@node1    | hello\n"
        assert err == b"cron.node9id.zyxwvutsrqpo@node9id    | \xffbad\n"
        assert not failed

    def test_timestamps_full_ids_and_no_ids(self) -> None:
        line = LogLine(WEB.task_id, 1715899964 * NS + 5, False, b"x")
        batch = ServiceLogs(sources=(WEB,), lines=(line,))
        out, _, _ = printed(batch, timestamps=True, trunc=False)
        assert out == f"2024-05-16T22:52:44.000000005Z web.2.{WEB.task_id}@node1    | x\n".encode()
        out, _, _ = printed(batch, task_ids=False)
        assert out == b"web.2@node1    | x\n"

    def test_node_errors_go_to_stderr_and_fail_the_command(self) -> None:
        out, err, failed = printed(
            ServiceLogs(errors=(LogError("node3", "node is not connected"),))
        )
        assert (out, err, failed) == (b"", b"error from node node3: node is not connected\n", True)
