"""`shoal events` end to end against the fake Control of tests/unit/cli: the lines and JSON it
prints, the filters and times it sends, and how it ends."""

from __future__ import annotations

import _thread
import json
import socket
import threading
from datetime import UTC, datetime, timedelta

import grpc
import pytest

from common.api import control_pb2 as api
from common.model import now
from tests.unit.cli.fake_control import FakeControl
from tests.unit.cli.harness import Certificates, Shoal, one_error_line

AT = 1_795_617_120  # 2026-11-25T14:32:00Z
SERVICE_ID = "3x9kq0w2e4r6t8y1u3i5o7p9a"
NODE_ID = "h2node0000000000000000000"


def event(
    kind: str, action: str, object_id: str, *attributes: tuple[str, str], nanos: int = 0
) -> api.ClusterEvent:
    return api.ClusterEvent(
        type=kind,
        action=action,
        id=object_id,
        attributes=[api.EventAttribute(key=k, value=v) for k, v in attributes],
        time_unix_nano=AT * 10**9 + nanos,
    )


CREATED = event("service", "create", SERVICE_ID, ("name", "web"), nanos=123_456_789)
SCALED = event(
    "service",
    "update",
    SERVICE_ID,
    ("name", "web"),
    ("replicas.old", "2"),
    ("replicas.new", "3"),
    nanos=500_000_000,
)
NODE_DOWN = event(
    "node", "update", NODE_ID, ("name", "h2"), ("state.old", "ready"), ("state.new", "down")
)
# The stream as the manager ends it once its connection is gone.
HANG_UP = (grpc.StatusCode.UNAVAILABLE, "Socket closed")


class TestOutput:
    def test_lines_like_docker(self, shoal: Shoal, control: FakeControl) -> None:
        """Time with nanoseconds, type, action, full ID, then the attributes in order."""
        control.events = [CREATED, SCALED, NODE_DOWN]
        control.events_end = HANG_UP
        result = shoal("events")
        assert result.lines == [
            f"2026-11-25T14:32:00.123456789Z service create {SERVICE_ID} (name=web)",
            f"2026-11-25T14:32:00.500000000Z service update {SERVICE_ID}"
            " (name=web, replicas.old=2, replicas.new=3)",
            f"2026-11-25T14:32:00.000000000Z node update {NODE_ID}"
            " (name=h2, state.old=ready, state.new=down)",
        ]

    def test_an_event_without_attributes(self, shoal: Shoal, control: FakeControl) -> None:
        control.events = [event("task", "remove", "t1")]
        control.events_end = HANG_UP
        assert shoal("events").lines == ["2026-11-25T14:32:00.000000000Z task remove t1"]

    def test_json_has_dockers_keys(self, shoal: Shoal, control: FakeControl) -> None:
        control.events = [SCALED, NODE_DOWN]
        control.events_end = HANG_UP
        result = shoal("events", "--format", "json")
        first, second = (json.loads(line) for line in result.lines)
        assert first == {
            "Type": "service",
            "Action": "update",
            "Actor": {
                "ID": SERVICE_ID,
                "Attributes": {"name": "web", "replicas.old": "2", "replicas.new": "3"},
            },
            "scope": "swarm",
            "time": AT,
            "timeNano": AT * 10**9 + 500_000_000,
        }
        assert (second["Type"], second["Actor"]["Attributes"]["state.new"]) == ("node", "down")


class TestEnding:
    def test_ctrl_c_is_a_clean_exit(self, shoal: Shoal, control: FakeControl) -> None:
        """Ctrl-C is how the command is meant to end: exit 0, nothing on stderr."""

        def interrupt_once_subscribed() -> None:
            for _ in range(500):
                if control.event_requests:
                    _thread.interrupt_main()
                    return
                threading.Event().wait(0.01)

        threading.Thread(target=interrupt_once_subscribed, daemon=True).start()
        result = shoal("events")
        assert (result.code, result.out, result.err) == (0, "", "")

    def test_a_lost_manager(self, shoal: Shoal, control: FakeControl) -> None:
        """What came before is printed; then one line naming the manager, exit 1."""
        control.events = [CREATED]
        control.events_end = HANG_UP
        result = shoal("events")
        assert len(result.lines) == 1
        assert one_error_line(result) == (
            f"Error: lost the connection to the manager at {control.address}"
        )

    def test_a_client_that_fell_behind(self, shoal: Shoal, control: FakeControl) -> None:
        message = "the client fell behind by more than 1000 events; resume with --since X"
        control.events_end = (grpc.StatusCode.RESOURCE_EXHAUSTED, message)
        assert one_error_line(shoal("events")) == f"Error: {message}"

    def test_a_stream_the_manager_ended(self, shoal: Shoal, control: FakeControl) -> None:
        control.events_end = (grpc.StatusCode.OK, "")
        assert one_error_line(shoal("events")) == "Error: the manager ended the event stream"

    def test_an_unreachable_manager(
        self, certificates: Certificates, capsys: pytest.CaptureFixture[str]
    ) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            address = f"127.0.0.1:{probe.getsockname()[1]}"
        result = Shoal(capsys, address, certificates.admin)("events")
        assert one_error_line(result) == (
            f"Error: cannot reach the manager at {address} (is manager serve running?)"
        )

    def test_a_worker_certificate(
        self,
        control: FakeControl,
        certificates: Certificates,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        result = Shoal(capsys, control.address, certificates.worker)("events")
        assert one_error_line(result) == ("Error: a worker certificate cannot use the control API")


class TestFilters:
    def test_filters_are_sent_as_given(self, shoal: Shoal, control: FakeControl) -> None:
        control.events_end = HANG_UP
        shoal("events", "-f", "type=service", "--filter", "type=node", "-f", "Service=web")
        [request] = control.event_requests
        assert [(f.key, f.value) for f in request.filters] == [
            ("type", "service"),
            ("type", "node"),
            ("service", "web"),
        ]

    @pytest.mark.parametrize(
        ("given", "problem"),
        [
            ("container=web", "the key is one of type, service, node or event"),
            ("type=volume", "type is one of service, node or task"),
            ("event=die", "event is one of create, update or remove"),
            ("type", "expected KEY=VALUE"),
        ],
    )
    def test_a_bad_filter_is_one_line(
        self, shoal: Shoal, control: FakeControl, given: str, problem: str
    ) -> None:
        """Refused before any call, as a usage error."""
        result = shoal("events", "--filter", given)
        assert one_error_line(result) == (
            f"shoal: error: argument -f/--filter: invalid filter {given!r}: {problem}"
            " (see 'shoal events --help')"
        )
        assert control.calls == []


class TestSince:
    def sent(self, shoal: Shoal, control: FakeControl, since: str) -> int:
        control.events_end = HANG_UP
        shoal("events", "--since", since)
        [request] = control.event_requests
        return request.since_unix_nano

    def test_none_means_from_now_on(self, shoal: Shoal, control: FakeControl) -> None:
        control.events_end = HANG_UP
        shoal("events")
        assert control.event_requests[0].since_unix_nano == 0

    @pytest.mark.parametrize(
        ("since", "nanos"),
        [
            ("2026-11-25T14:32:00Z", AT * 10**9),
            ("2026-11-25T15:32:00.25+01:00", AT * 10**9 + 250_000_000),
            ("1795617120", AT * 10**9),
            ("1795617120.000000001", AT * 10**9 + 1),
        ],
    )
    def test_a_time(self, shoal: Shoal, control: FakeControl, since: str, nanos: int) -> None:
        assert self.sent(shoal, control, since) == nanos

    def test_a_local_time(self, shoal: Shoal, control: FakeControl) -> None:
        """As docker: a time without a zone is the client's own."""
        local = datetime(2026, 11, 25, 14, 32).astimezone()
        expected = int(local.timestamp()) * 10**9
        assert self.sent(shoal, control, "2026-11-25T14:32:00") == expected

    def test_a_duration_back_from_now(self, shoal: Shoal, control: FakeControl) -> None:
        before = now()
        sent = datetime.fromtimestamp(self.sent(shoal, control, "10m") / 1e9, UTC)
        assert before - timedelta(minutes=10, seconds=1) < sent <= now() - timedelta(minutes=10)

    def test_anything_else_is_one_line(self, shoal: Shoal, control: FakeControl) -> None:
        result = shoal("events", "--since", "yesterday")
        assert one_error_line(result) == (
            "shoal: error: argument --since: invalid time 'yesterday': use a duration (10m),"
            " an RFC 3339 time (2026-11-25T14:32:00Z) or a Unix timestamp"
            " (see 'shoal events --help')"
        )
        assert control.calls == []
