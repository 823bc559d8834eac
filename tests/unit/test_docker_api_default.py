"""Where the Docker API listens when --docker-api-addr is not given: docker's port for a manager
on the default port, two above --listen's otherwise, so that a second manager in one network
namespace starts on defaults beside the first."""

from __future__ import annotations

from manager import main as manager_main


def _served(*flags: str) -> str | None:
    args = manager_main.build_parser().parse_args(["serve", "--state-dir", "/m", *flags])
    return manager_main.docker_api_addr_of(args)


def test_a_manager_on_the_default_port_serves_docker_s_port() -> None:
    assert _served() == "0.0.0.0:2376"
    assert _served("--listen", "127.0.0.1:7462") == "0.0.0.0:2376"


def test_a_manager_on_another_port_serves_two_above_it() -> None:
    assert _served("--listen", "127.0.0.1:7470") == "0.0.0.0:7472"


def test_the_flag_wins_and_empty_turns_the_api_off() -> None:
    assert _served("--listen", "127.0.0.1:7470", "--docker-api-addr", "127.0.0.1:9") == (
        "127.0.0.1:9"
    )
    assert _served("--docker-api-addr", "") is None


def test_manager_join_goes_on_without_the_flag_when_it_was_not_given() -> None:
    """Left out, `serve` works the default out again from the same --listen."""
    token = "SHOAL-1-" + "a" * 50 + "-" + "b" * 25
    joined = manager_main.build_parser().parse_args(
        ["join", token, "192.0.2.1:7462", "--listen", "127.0.0.1:7470"]
    )
    argv = manager_main.serve_argv(joined)
    assert "--docker-api-addr" not in argv
    assert manager_main.docker_api_addr_of(manager_main.build_parser().parse_args(argv)) == (
        "0.0.0.0:7472"
    )
