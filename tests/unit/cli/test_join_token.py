"""`shoal join-token` end to end against the fake Control."""

from __future__ import annotations

import pytest

from common import model as m
from tests.unit.cli.fake_control import FakeControl
from tests.unit.cli.harness import Shoal


class TestJoinToken:
    @pytest.mark.parametrize(("role", "command"), [("worker", "agent"), ("manager", "manager")])
    def test_instructions(
        self, shoal: Shoal, control: FakeControl, role: str, command: str
    ) -> None:
        """Without -q, the command to run on the new node (`agent join` for a worker, `manager
        join` for a manager), with its token and the manager."""
        result = shoal("join-token", role)
        assert result.code == 0
        assert result.out == (
            f"To add a {role} to this cluster, run the following command:\n\n"
            f"    {command} join SHOAL-1-{role} 10.0.0.1:7462\n"
        )
        assert control.token_requests == [(m.NodeRole[role.upper()], False)]

    def test_quiet(self, shoal: Shoal) -> None:
        """`-q` prints the token alone."""
        assert shoal("join-token", "-q", "worker").out == "SHOAL-1-worker\n"

    @pytest.mark.parametrize(("role", "command"), [("worker", "agent"), ("manager", "manager")])
    def test_rotate(self, shoal: Shoal, control: FakeControl, role: str, command: str) -> None:
        """--rotate asks the server to rotate, says so as docker does, then shows the new token."""
        result = shoal("join-token", "--rotate", role)
        assert result.code == 0
        assert result.out == (
            f"Successfully rotated {role} join token.\n\n"
            f"To add a {role} to this cluster, run the following command:\n\n"
            f"    {command} join SHOAL-1-{role}-1 10.0.0.1:7462\n"
        )
        assert control.token_requests == [(m.NodeRole[role.upper()], True)]

    def test_quiet_rotate_prints_only_the_new_token(
        self, shoal: Shoal, control: FakeControl
    ) -> None:
        """`-q --rotate` rotates and prints the new token alone."""
        result = shoal("join-token", "-q", "--rotate", "manager")
        assert (result.code, result.out) == (0, "SHOAL-1-manager-1\n")
        assert control.token_requests == [(m.NodeRole.MANAGER, True)]

    def test_role_is_required_and_checked(self, shoal: Shoal, control: FakeControl) -> None:
        """An unknown role is a usage error; nothing is asked of the server."""
        result = shoal("join-token", "admin")
        assert result.code == 1
        assert "invalid choice: 'admin'" in result.err.splitlines()[0]
        assert control.calls == []
