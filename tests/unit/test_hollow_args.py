"""`agent hollow`'s command line: what it refuses, in one line, before it touches anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent import main as agent_main

TOKEN = "SHOAL-1-" + "a" * 64 + "-" + "b" * 32


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--count", "0"], "--count must be at least 1"),
        (["--count", "3", "--hostname-prefix", "bad_name-"], "--hostname-prefix 'bad_name-'"),
        (["--count", "3", TOKEN], "give both a join token and the manager's address"),
        (["--count", "3", "not-a-token", "192.0.2.1:7462"], "token"),
        (["--count", "2"], "2 of the 2 nodes"),
    ],
)
def test_refused_in_one_line(
    args: list[str], said: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "hollow"
    with pytest.raises(SystemExit) as stopped:
        agent_main.main(["hollow", "--state-dir", str(state), *args])
    assert stopped.value.code == 1
    err = capsys.readouterr().err
    assert said in err
    assert len(err.strip().splitlines()) == 1
    assert not state.exists()
