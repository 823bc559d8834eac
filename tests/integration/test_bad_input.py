"""Bad input gets one clear line and a nonzero exit code, and leaves stored state as it was."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.cluster import BIN, Cluster, Daemon, free_port
from tests.waiting import SLEEPER, wait_for


def _one_line_error(result_err: str) -> str:
    lines = [line for line in result_err.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got: {result_err!r}"
    return lines[0]


def _state(cluster: Cluster) -> str:
    """Every stored service, as `service inspect` shows it."""
    names = [s["Name"] for s in cluster.ok("service", "ls", "--format", "json").json_lines()]
    return cluster.ok("service", "inspect", *names).out if names else ""


@pytest.fixture
def kept(cluster: Cluster) -> Iterator[str]:
    """A service that bad calls must leave untouched; yields the stored state before them."""
    cluster.ok(
        "service",
        "create",
        "-d",
        "--name",
        "kept",
        "--replicas",
        "1",
        "local/busybox:latest",
        *SLEEPER,
    )
    yield _state(cluster)
    cluster.ok("service", "rm", "kept")


class TestServiceCommands:
    def test_negative_replicas(self, cluster: Cluster, kept: str) -> None:
        """--replicas -1 is refused and stores nothing."""
        result = cluster.shoal(
            "service", "create", "-d", "--name", "neg", "--replicas", "-1", "local/busybox:latest"
        )
        assert result.code == 1
        _one_line_error(result.err)
        assert _state(cluster) == kept
        assert cluster.shoal("service", "scale", "-d", "kept=-2").code == 1
        assert _state(cluster) == kept

    def test_duplicate_name(self, cluster: Cluster, kept: str) -> None:
        """A second service with a taken name is refused; the first is unchanged."""
        result = cluster.shoal(
            "service", "create", "-d", "--name", "kept", "--replicas", "4", "local/busybox:latest"
        )
        assert result.code == 1
        assert "already exists" in _one_line_error(result.err)
        assert _state(cluster) == kept

    def test_unpullable_image_is_rejected_with_the_engine_error(self, cluster: Cluster) -> None:
        """An image no registry has: the task is Rejected and ps shows the engine's pull error."""
        # A registry on a closed loopback port: the pull fails at once, without leaving the host.
        cluster.ok("service", "create", "-d", "--name", "nopull", "127.0.0.1:9/nosuch:v1")

        def rejected() -> list[dict[str, object]]:
            return [
                t for t in cluster.tasks("nopull") if str(t["CurrentState"]).startswith("Rejected")
            ]

        task = wait_for(rejected, "a rejected task")[0]
        assert "127.0.0.1:9" in str(task["Error"])
        assert "connection refused" in str(task["Error"])
        cluster.ok("service", "rm", "nopull")

    def test_unreachable_manager(self, cluster: Cluster) -> None:
        """The client against a port nobody listens on: one line, exit 1, in bounded time."""
        result = cluster.shoal("--host", f"127.0.0.1:{free_port()}", "service", "ls", timeout=20)
        assert result.code == 1
        assert "cannot reach the manager" in _one_line_error(result.err)


class TestAgentJoin:
    def test_malformed_token(self, cluster: Cluster) -> None:
        """A token that isn't SHOAL-1-<digest>-<secret>: one line, exit 1, nothing joined."""
        nodes = len(cluster.nodes())
        done = subprocess.run(
            [
                str(BIN / "agent"),
                "join",
                "SHOAL-1-nope",
                cluster.addr,
                "--state-dir",
                "/nonexistent/x",
            ],
            capture_output=True,
            text=True,
            timeout=30,
            env=cluster.env,
        )
        assert done.returncode == 1
        assert "malformed join token" in _one_line_error(done.stderr)
        assert len(cluster.nodes()) == nodes

    def test_wrong_token(self, cluster: Cluster, tmp_path: Path) -> None:
        """A well-formed token with the wrong secret is refused without echoing the token."""
        token = cluster.ok("join-token", "worker", "-q").out.strip()
        digest = token.split("-")[2]
        wrong = f"SHOAL-1-{digest}-{'0' * 25}"
        done = subprocess.run(
            [str(BIN / "agent"), "join", wrong, cluster.addr, "--state-dir", f"{tmp_path}/agent"],
            capture_output=True,
            text=True,
            timeout=30,
            env=cluster.env,
        )
        assert done.returncode == 1
        assert "invalid join token" in _one_line_error(done.stderr)
        assert wrong not in done.stderr
        assert token.split("-")[3] not in done.stderr

    def test_unreachable_manager_is_retried_not_fatal(
        self, cluster: Cluster, tmp_path: Path
    ) -> None:
        """agent join against a closed port keeps retrying and says so in its log."""
        token = cluster.ok("join-token", "worker", "-q").out.strip()
        log = tmp_path / "agent.log"
        agent = Daemon(
            "stray",
            [
                str(BIN / "agent"),
                "join",
                token,
                f"127.0.0.1:{free_port()}",
                "--state-dir",
                f"{tmp_path}/agent",
            ],
            log,
        )
        agent.start(cluster.env)
        try:
            wait_for(
                lambda: agent.log_text().count("manager unreachable") >= 3, "three retries logged"
            )
            assert agent.alive()
            assert token not in agent.log_text()
        finally:
            agent.kill(signal.SIGKILL)


def test_closed_pipe_ends_quietly(cluster: Cluster) -> None:
    """`shoal node ls | head -0`: the reader has gone; no traceback, SIGPIPE's exit status."""
    proc = subprocess.Popen(
        [str(BIN / "shoal"), "node", "ls"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=cluster.env,
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=30) == 141
    assert err == ""
