"""`--host A,B` and SHOAL_HOST with several managers: a manager that cannot be reached is
passed over for the next, within one bounded time; a write is sent to a second manager only
when it surely did not reach the first, while a read may be asked again anywhere."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from cli import connection
from tests.unit.cli.fake_control import FakeControl
from tests.unit.cli.harness import Certificates, Shoal, one_error_line, serving
from tests.unit.cli.seeded import seed


def closed_port() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{probe.getsockname()[1]}"


@pytest.fixture
def refusing(certificates: Certificates) -> Iterator[FakeControl]:
    """A manager that takes calls in and answers each UNAVAILABLE."""
    fake = FakeControl()
    seed(fake)
    fake.unavailable = True
    with serving(fake, certificates.server):
        yield fake


class TestSeveralManagers:
    def test_a_dead_manager_is_passed_over(
        self,
        control: FakeControl,
        certificates: Certificates,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """Reads and writes alike go to the next manager when the first refuses connections:
        the write surely never reached it."""
        shoal = Shoal(capsys, f"{closed_port()},{control.address}", certificates.admin)
        listed = shoal("node", "ls", "-q")
        assert listed.code == 0, listed.err
        assert len(listed.lines) == len(control.nodes)
        removed = shoal("service", "rm", "web")
        assert removed.code == 0, removed.err
        assert control.calls.count("RemoveService") == 1

    def test_shoal_host_takes_a_list(
        self,
        control: FakeControl,
        certificates: Certificates,
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setenv(connection.HOST_ENV, f"{closed_port()}, {control.address}")
        listed = Shoal(capsys, config=certificates.admin)("service", "ls", "-q")
        assert listed.code == 0, listed.err
        assert listed.lines

    def test_a_read_is_asked_again_elsewhere_a_write_is_not(
        self,
        control: FakeControl,
        refusing: FakeControl,
        certificates: Certificates,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """The first manager took the calls in and failed them: the read is answered by the
        second; the write, which may have been done, is reported and not sent again."""
        shoal = Shoal(capsys, f"{refusing.address},{control.address}", certificates.admin)
        listed = shoal("node", "ls", "-q")
        assert listed.code == 0, listed.err
        assert refusing.calls == ["ListNodes"]
        assert control.calls == ["ListNodes"]
        refusing.calls.clear()
        control.calls.clear()
        removed = shoal("service", "rm", "web")
        assert one_error_line(removed) == (
            f"Error: cannot reach the manager at {refusing.address} (is manager serve running?)"
        )
        assert "RemoveService" in refusing.calls
        assert "RemoveService" not in control.calls

    def test_none_reachable_is_one_line_soon(
        self, certificates: Certificates, capsys: pytest.CaptureFixture[str]
    ) -> None:
        first, second = closed_port(), closed_port()
        started = time.monotonic()
        result = Shoal(capsys, f"{first},{second}", certificates.admin)("service", "ls")
        assert time.monotonic() - started < 8
        assert one_error_line(result) == (
            f"Error: cannot reach any manager at {first}, {second} (is manager serve running?)"
        )

    def test_an_empty_entry_is_refused(
        self, control: FakeControl, certificates: Certificates, capsys: pytest.CaptureFixture[str]
    ) -> None:
        result = Shoal(capsys, f"{control.address},,", certificates.admin)("service", "ls")
        assert one_error_line(result).startswith("Error: invalid --host")
        assert control.calls == []


class TestNoLeader:
    """A manager that answers that no manager leads did nothing with the call."""

    def test_said_in_one_line_after_a_brief_wait(
        self, control: FakeControl, certificates: Certificates, capsys: pytest.CaptureFixture[str]
    ) -> None:
        control.leaderless = 1_000
        started = time.monotonic()
        result = Shoal(capsys, control.address, certificates.admin)("service", "ls")
        waited = time.monotonic() - started
        assert one_error_line(result) == (
            "Error: no manager leads the cluster right now: an election is under way, or the"
            " managers cannot reach their store (etcd); try again in a few seconds"
        )
        assert result.code != 0
        # It asked again while an election could end, and gave up soon after.
        assert control.calls.count("ListServices") > 2
        assert 4 < waited < 9

    def test_a_write_goes_to_the_next_manager(
        self,
        control: FakeControl,
        certificates: Certificates,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """Unlike a manager that failed the call, a leaderless one surely did not do it."""
        follower = FakeControl()
        seed(follower)
        follower.leaderless = 1_000
        with serving(follower, certificates.server):
            shoal = Shoal(capsys, f"{follower.address},{control.address}", certificates.admin)
            removed = shoal("service", "rm", "web")
        assert removed.code == 0, removed.err
        assert "RemoveService" in follower.calls
        assert control.calls.count("RemoveService") == 1

    def test_a_write_succeeds_once_a_leader_is_elected(
        self, control: FakeControl, certificates: Certificates, capsys: pytest.CaptureFixture[str]
    ) -> None:
        control.leaderless = 2
        removed = Shoal(capsys, control.address, certificates.admin)("service", "rm", "web")
        assert removed.code == 0, removed.err
        assert control.calls.count("RemoveService") == 3
