"""Versions and cluster facts (issue 23): `--version` on every command, `shoal version` and
`shoal info` against a real manager (in-process, real gRPC), and the session protocol check
that lets an older agent work and refuses one the manager cannot serve."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
import structlog

from agent import main as agent_main
from agent.runtime.fake import FakeRuntime
from cli import main as cli_main
from cli.output import pretty_field
from common import version
from common.errors import FailedPrecondition
from common.model import NodeState
from common.quiet_grpc import wants_debug
from manager import main as manager_main
from tests.unit.harness import PERIOD, Harness, running, wait_state
from tests.waiting import eventually


@pytest.fixture(autouse=True)
def daemon_logs_kept_apart() -> Iterator[None]:
    """The in-process manager's log lines would land in the client's captured stdout."""
    with structlog.testing.capture_logs():
        yield


@pytest.mark.parametrize(
    ("program", "parse"),
    [
        ("shoal", cli_main.build_parser().parse_args),
        ("manager", manager_main.build_parser().parse_args),
        ("agent", agent_main.build_parser().parse_args),
    ],
)
def test_version_flag(
    program: str, parse: Callable[[list[str]], object], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        parse(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == (
        f"{program} version {version.VERSION}, protocol {version.PROTOCOL}\n"
    )


def test_the_release_is_the_installed_package() -> None:
    assert version.VERSION == "0.2.0"


@pytest.mark.parametrize(
    ("argv", "debug"),
    [
        (["serve"], False),
        (["serve", "--log-level", "debug"], True),
        (["serve", "--log-level=debug"], True),
        (["serve", "--log-level", "info", "--hostname", "debug"], False),
        (["serve", "--log-level"], False),
    ],
)
def test_grpc_is_quiet_unless_debug_is_asked_for(argv: list[str], debug: bool) -> None:
    assert wants_debug(argv) is debug


async def shoal(
    harness: Harness, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str, str]:
    """The `shoal` client against the harness's manager, in a thread (it blocks)."""
    admin = str(harness.state_dir / "admin")
    code = await asyncio.to_thread(cli_main.main, ["-H", harness.addr, "--config", admin, *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


async def test_version_shows_client_and_server(
    harness: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = await shoal(harness, capsys, "version")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == "Client:"
    assert "Server:" in lines
    assert lines.count(pretty_field(" Version:", version.VERSION)) == 2
    protocol = pretty_field(" Protocol:", f"{version.PROTOCOL} (serves agents from 1)")
    assert lines.count(protocol) == 2

    code, out, _ = await shoal(harness, capsys, "version", "--format", "json")
    document = json.loads(out)
    assert code == 0
    assert document["Client"]["Version"] == document["Server"]["Version"] == version.VERSION
    assert document["Server"]["Protocol"] == version.PROTOCOL
    assert document["Server"]["MinAgentProtocol"] == version.MIN_AGENT_PROTOCOL


async def test_version_without_a_manager_still_shows_the_client(
    harness: Harness, capsys: pytest.CaptureFixture[str], unused_tcp_port: int
) -> None:
    admin = str(harness.state_dir / "admin")
    argv = ["-H", f"127.0.0.1:{unused_tcp_port}", "--config", admin, "version"]
    code = await asyncio.to_thread(cli_main.main, argv)
    captured = capsys.readouterr()
    assert code == 1
    assert captured.out.splitlines()[:2] == ["Client:", pretty_field(" Version:", version.VERSION)]
    assert "Server:" not in captured.out
    assert len(captured.err.splitlines()) == 1
    assert captured.err.startswith("Error: ")


async def test_info_tells_the_cluster(harness: Harness, capsys: pytest.CaptureFixture[str]) -> None:
    """Cluster and node IDs, the one manager leading, nodes and tasks counted by state, the
    store, the heartbeat period, certificate expiries and the manager's address."""
    await harness.join("a1", FakeRuntime())
    await wait_state(harness, "a1", NodeState.READY)
    await harness.create("web", 2)
    await eventually(lambda: len(running(harness.manager_runtime)) >= 1, "a task on the manager")

    code, out, err = await shoal(harness, capsys, "info", "--format", "json")
    assert (code, err) == (0, "")
    info = json.loads(out)
    assert info["NodeID"] == harness.node_id
    assert info["ManagerAddr"] == harness.addr
    assert [(m["NodeID"], m["Hostname"], m["Leader"]) for m in info["Managers"]] == [
        (harness.node_id, "mgr", True)
    ]
    assert info["Nodes"] == 2
    assert info["NodeStates"] == {"ready": 2}
    assert info["NodeAvailabilities"] == {"active": 2}
    assert info["Services"] == 1
    assert info["Tasks"] == sum(info["TaskStates"].values()) == 2
    assert info["Store"] == {
        "Backend": "sqlite",
        "Location": str(harness.state_dir / "state.db"),
    }
    assert info["HeartbeatPeriodSeconds"] == PERIOD
    assert info["NodeCertLifetimeSeconds"] == timedelta(days=90).total_seconds()
    now = datetime.now(UTC)
    ca_expiry = datetime.fromisoformat(info["CAExpiry"])
    node_expiry = datetime.fromisoformat(info["NodeCertExpiry"])
    assert now + timedelta(days=365) < ca_expiry
    assert now + timedelta(days=89) < node_expiry <= now + timedelta(days=91)
    assert info["Server"]["Version"] == version.VERSION

    code, out, _ = await shoal(harness, capsys, "info")
    assert code == 0
    text = out.splitlines()
    assert pretty_field("Cluster ID:", info["ClusterID"]) in text
    assert pretty_field("Manager Address:", harness.addr) in text
    assert pretty_field(" Ready:", "2") in text
    assert pretty_field(" Heartbeat Period:", f"{round(PERIOD * 1000)}ms") in text
    assert any(line.startswith(" mgr ") and line.endswith("Leader") for line in text)


@pytest.mark.parametrize(("protocol", "release"), [(0, ""), (1, "0.1.9")])
async def test_an_agent_of_the_previous_protocol_works(
    harness: Harness,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    protocol: int,
    release: str,
) -> None:
    """An agent of protocol 1, announced or from before versions were announced at all (0, no
    release), is served: it is ready, runs its tasks, and `node ls` shows what it said."""
    monkeypatch.setattr("agent.node.PROTOCOL", protocol)
    monkeypatch.setattr("agent.node.VERSION", release)
    rt = FakeRuntime()
    await harness.join("old", rt)
    await wait_state(harness, "old", NodeState.READY)
    await harness.create("web", 4)
    await eventually(lambda: len(running(rt)) == 2, "the old agent's share of the tasks")
    code, out, _ = await shoal(harness, capsys, "node", "ls", "--format", "json")
    versions = {n["Hostname"]: n["ShoalVersion"] for n in map(json.loads, out.splitlines())}
    assert code == 0
    assert versions == {"mgr": version.VERSION, "old": release}


async def test_an_agent_of_a_newer_protocol_is_refused_naming_both_versions(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("agent.node.PROTOCOL", version.PROTOCOL + 1)
    monkeypatch.setattr("agent.node.VERSION", "9.0.0")
    node_id = await harness.join("new", FakeRuntime())
    task = harness.agents[node_id]
    with pytest.raises(FailedPrecondition) as refused:
        await asyncio.wait_for(task, 10)
    assert str(refused.value) == (
        f"agent 9.0.0 speaks protocol {version.PROTOCOL + 1}, this manager ({version.VERSION})"
        f" speaks {version.PROTOCOL}: upgrade the managers first"
    )
    states = await harness.node_states()
    assert states["new"] != NodeState.READY
