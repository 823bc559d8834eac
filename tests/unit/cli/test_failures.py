"""How `shoal` fails: one line, an exit code, never a hang."""

from __future__ import annotations

import socket
import time

import pytest

from cli.client import Client
from cli.failover import Managers
from common.errors import Unavailable
from tests.unit.cli.fake_control import FakeControl
from tests.unit.cli.harness import Certificates, Shoal, one_error_line
from tests.unit.cli.seeded import MONITOR_ID, WEB_ID


class TestFailures:
    def test_unreachable_manager(
        self, certificates: Certificates, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A closed port fails quickly with one line naming the address tried."""
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            address = f"127.0.0.1:{probe.getsockname()[1]}"
        started = time.monotonic()
        result = Shoal(capsys, address, certificates.admin)("service", "ls")
        assert time.monotonic() - started < 5
        assert one_error_line(result) == (
            f"Error: cannot reach the manager at {address} (is manager serve running?)"
        )
        assert result.out == ""

    def test_deadline(self, control: FakeControl, certificates: Certificates) -> None:
        """A manager that accepts the call but never answers fails it at the deadline."""
        control.slow = True
        with Managers([control.address], certificates.admin, deadline=0.2) as managers:
            client = Client(managers)
            started = time.monotonic()
            with pytest.raises(Unavailable, match=r"cannot reach the manager at 127\.0\.0\.1:"):
                client.list_nodes()
        assert time.monotonic() - started < 5

    def test_interrupt(self, shoal: Shoal, monkeypatch: pytest.MonkeyPatch) -> None:
        """Ctrl-C during a call exits with 130 and no traceback."""

        def interrupted(self: Client) -> None:
            raise KeyboardInterrupt

        monkeypatch.setattr(Client, "list_nodes", interrupted)
        result = shoal("node", "ls")
        assert (result.code, result.out, result.err) == (130, "", "")

    def test_usage_error_is_one_line_and_a_hint(self, shoal: Shoal) -> None:
        """A missing subcommand gives `shoal: error: ...` and where to find help; exit 1."""
        result = shoal("service")
        assert result.code == 1
        assert result.err.splitlines() == [
            "shoal: error: the following arguments are required: COMMAND"
            " (see 'shoal service --help')"
        ]

    def test_host_from_the_environment(
        self,
        control: FakeControl,
        certificates: Certificates,
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """Without --host, SHOAL_HOST names the manager."""
        monkeypatch.setenv("SHOAL_HOST", control.address)
        result = Shoal(capsys, config=certificates.admin)("service", "ls", "-q")
        assert result.lines == [MONITOR_ID, WEB_ID]
