"""`shoal cluster update --autolock`, `unlock-key` and `unlock` end to end against the fake
Control: docker's words, the key shown once, and the unlock key never taken from the command
line."""

from __future__ import annotations

import getpass
import io
import sys

import pytest

from common.key_files import Kek
from tests.unit.cli.fake_control import FakeControl
from tests.unit.cli.harness import Shoal, one_error_line


class TestAutolock:
    def test_turning_on_prints_the_key_once(self, shoal: Shoal, control: FakeControl) -> None:
        result = shoal("cluster", "update", "--autolock=true")
        assert result.code == 0
        assert result.out.startswith("Cluster updated.\nTo unlock a shoal manager")
        assert f"\n    {control.unlock_key}\n" in result.out
        again = shoal("cluster", "update", "--autolock", "true")
        assert again.out == "Cluster updated.\n"

    def test_turning_off(self, shoal: Shoal, control: FakeControl) -> None:
        shoal("cluster", "update", "--autolock=true")
        assert shoal("cluster", "update", "--autolock=false").out == "Cluster updated.\n"
        assert control.unlock_key == ""
        line = one_error_line(shoal("cluster", "unlock-key"))
        assert "autolock is off" in line

    def test_a_bad_value_is_a_usage_error(self, shoal: Shoal, control: FakeControl) -> None:
        assert shoal("cluster", "update", "--autolock=maybe").code == 1
        assert control.unlock_key == ""

    def test_unlock_key_quiet_and_rotate(self, shoal: Shoal, control: FakeControl) -> None:
        shoal("cluster", "update", "--autolock=true")
        first = control.unlock_key
        assert shoal("cluster", "unlock-key", "-q").out == f"{first}\n"
        rotated = shoal("cluster", "unlock-key", "--rotate")
        assert rotated.out.startswith("Successfully rotated manager unlock key.\n\n")
        assert control.unlock_key != first
        assert f"\n    {control.unlock_key}\n" in rotated.out


class TestUnlock:
    def test_prompts_without_echo_on_a_terminal(
        self, shoal: Shoal, control: FakeControl, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        key = Kek.generate().unlock_key
        prompts: list[str] = []
        monkeypatch.setattr(sys.stdin, "isatty", lambda: True)

        def asked(prompt: str) -> str:
            prompts.append(prompt)
            return key

        monkeypatch.setattr(getpass, "getpass", asked)
        # The fake manager is not locked: it says so, and the key reached it.
        line = one_error_line(shoal("cluster", "unlock"))
        assert line == "Error: this manager is not locked"
        assert prompts == ["Please enter unlock key: "]
        assert control.unlock_requests == [key]

    def test_reads_a_piped_key_from_stdin(
        self, shoal: Shoal, control: FakeControl, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        key = Kek.generate().unlock_key
        monkeypatch.setattr(sys, "stdin", io.StringIO(f"{key}\n"))
        shoal("cluster", "unlock")
        assert control.unlock_requests == [key]

    def test_no_key_is_refused_before_any_call(
        self, shoal: Shoal, control: FakeControl, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(""))
        assert one_error_line(shoal("cluster", "unlock")) == "Error: no unlock key given"
        assert control.unlock_requests == []

    def test_the_key_is_no_argument(self, shoal: Shoal, control: FakeControl) -> None:
        assert shoal("cluster", "unlock", Kek.generate().unlock_key).code == 1
        assert control.unlock_requests == []
