"""`manager serve --leader-lease`: whole seconds, etcd's minimum at least, and only with etcd."""

from __future__ import annotations

import pytest

from manager.main import build_parser, main


def test_whole_seconds_from_two() -> None:
    args = build_parser().parse_args(["serve", "--store", "etcd://h:2379", "--leader-lease", "3s"])
    assert args.leader_lease == 3
    default = build_parser().parse_args(["serve", "--store", "etcd://h:2379"])
    assert default.leader_lease is None


@pytest.mark.parametrize("lease", ["1s", "1500ms", "2.5s", "soon"])
def test_a_lease_etcd_cannot_hold_is_one_line_and_exit_1(
    lease: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        build_parser().parse_args(["serve", "--store", "etcd://h:2379", "--leader-lease", lease])
    assert caught.value.code == 1
    [line] = capsys.readouterr().err.splitlines()[-1:]
    assert "--leader-lease" in line


def test_without_etcd_the_flag_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    """One manager on SQLite has no election: a lease given there is a mistake, not ignored."""
    with pytest.raises(SystemExit) as caught:
        main(["serve", "--leader-lease", "3s"])
    assert caught.value.code == 1
    assert "--leader-lease applies only with --store" in capsys.readouterr().err
