"""`shoal dashboard`'s and the daemons' new flags: bad values are one line and exit code 1."""

from __future__ import annotations

import pytest

from agent.main import build_parser as agent_parser
from cli.dashboard.command import is_loopback
from cli.main import build_parser as shoal_parser
from manager.main import build_parser as manager_parser


@pytest.mark.parametrize(
    "argv",
    [
        ["dashboard", "--listen", "127.0.0.1"],
        ["dashboard", "--listen", "127.0.0.1:http"],
        ["dashboard", "--listen", ":8462"],
    ],
)
def test_a_bad_listen_address_is_refused(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        shoal_parser().parse_args(argv)
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "--listen" in err


def test_the_dashboard_listens_on_loopback_by_default() -> None:
    args = shoal_parser().parse_args(["dashboard"])
    assert args.listen == ("127.0.0.1", 8462)
    assert all(is_loopback(host) for host in ("127.0.0.1", "::1", "localhost"))
    assert not any(is_loopback(host) for host in ("0.0.0.0", "192.0.2.7", "example.org"))


@pytest.mark.parametrize(
    "argv",
    [
        ["serve", "--metrics-addr", "9464"],
        ["serve", "--metrics-addr", "0.0.0.0:port"],
    ],
)
def test_a_bad_metrics_address_is_refused(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        manager_parser().parse_args(argv)
    assert exited.value.code == 1
    assert "--metrics-addr" in capsys.readouterr().err


def test_metrics_are_off_unless_asked_for() -> None:
    assert manager_parser().parse_args(["serve"]).metrics_addr is None
    run = agent_parser().parse_args(["run", "--metrics-addr", "127.0.0.1:9464"])
    assert (run.metrics_addr.host, run.metrics_addr.port) == ("127.0.0.1", 9464)
