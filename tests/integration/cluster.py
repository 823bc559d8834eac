"""A real cluster for integration tests: `manager serve` and agents as processes on one engine."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker

from agent.overlay.engine import CLUSTER_LABEL
from agent.task_files import TaskFiles, files_dir
from common.mesh_flag import ENV as MESH_ENV
from tests.waiting import wait_for

BIN = Path(sys.executable).parent
HEARTBEAT = 0.5
# Every wait in these tests is bounded; the figures are generous, not performance goals.
DEADLINE = 30.0


def free_port() -> int:
    """A loopback port that is free, with the one above it free too (the manager's join port)."""
    for _ in range(100):
        with socket.socket() as sock, socket.socket() as above:
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
            try:
                above.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
            return port
    raise RuntimeError("no pair of free ports on loopback")


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.out.splitlines() if line.strip()]


@dataclass
class Daemon:
    name: str
    argv: list[str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def out(self) -> Path:
        """What the daemon prints for its user (the join command), apart from its log."""
        return self.log.with_suffix(".out")

    def start(self, env: dict[str, str]) -> None:
        with self.log.open("ab") as err, self.out.open("ab") as out:
            self.proc = subprocess.Popen(
                self.argv, stdout=out, stderr=err, env=env, start_new_session=True
            )

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=DEADLINE)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@dataclass
class Cluster:
    root: Path
    port: int
    engine: docker.APIClient
    manager_args: list[str] = field(default_factory=list)
    # The manager's Docker API port; 0: a free one. Explicit, so that managers of test runs side
    # by side never meet on docker's default port.
    docker_api_port: int = 0
    heartbeat: float = HEARTBEAT
    manager: Daemon = field(init=False)
    agents: list[Daemon] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.docker_api_port:
            self.docker_api_port = free_port()
        self.manager = Daemon(
            "manager",
            [
                str(BIN / "manager"),
                "serve",
                "--listen",
                f"127.0.0.1:{self.port}",
                "--advertise",
                "127.0.0.1",
                "--state-dir",
                str(self.root / "manager"),
                "--hostname",
                "it-manager",
                "--heartbeat-period",
                str(self.heartbeat),
                "--docker-api-addr",
                f"127.0.0.1:{self.docker_api_port}",
                *self.manager_args,
            ],
            self.root / "manager.log",
        )

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "SHOAL_HOST": self.addr,
            "SHOAL_CONFIG": str(self.root / "manager" / "admin"),
            # All of its nodes share one network namespace: none programs its netfilter.
            MESH_ENV: "0",
        }

    def shoal(self, *args: str, timeout: float = DEADLINE) -> Result:
        done = subprocess.run(
            [str(BIN / "shoal"), *args],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=timeout,
        )
        return Result(done.returncode, done.stdout, done.stderr)

    def ok(self, *args: str) -> Result:
        result = self.shoal(*args)
        assert result.code == 0, f"shoal {' '.join(args)} failed: {result.err}"
        return result

    def answers(self, *args: str) -> Result | None:
        """shoal's answer, or None when it took over 15 s (a loaded machine starting a
        process, or a manager still starting): for waits that try again."""
        try:
            return self.shoal(*args, timeout=15)
        except subprocess.TimeoutExpired:
            return None

    def start_manager(self) -> None:
        self.manager.start(self.env)
        wait_for(
            lambda: (r := self.answers("node", "ls")) is not None and r.code == 0,
            "the manager to answer",
            timeout=3 * DEADLINE,
        )

    def add_agent(self, index: int, *extra: str) -> Daemon:
        token = self.ok("join-token", "worker", "-q").out.strip()
        agent = Daemon(
            f"agent-{index}",
            [
                str(BIN / "agent"),
                "join",
                token,
                self.addr,
                "--state-dir",
                str(self.root / f"agent-{index}"),
                "--hostname",
                f"it-agent-{index}",
                *extra,
            ],
            self.root / f"agent-{index}.log",
        )
        agent.start(self.env)
        self.agents.append(agent)
        return agent

    def nodes(self) -> list[dict[str, Any]]:
        return self.ok("node", "ls", "--format", "json").json_lines()

    def all_ready(self, count: int) -> bool:
        nodes = self.nodes()
        return len(nodes) == count and all(n["Status"] == "Ready" for n in nodes)

    def tasks(self, service: str) -> list[dict[str, Any]]:
        return self.ok("service", "ps", service, "--no-trunc", "--format", "json").json_lines()

    def containers(self, service: str, *, running: bool = True) -> list[dict[str, Any]]:
        """The service's containers on this cluster's nodes: other modules' clusters on the same
        engine may name a service alike."""
        ours = self._identities()
        found: list[dict[str, Any]] = self.engine.containers(
            all=not running, filters={"label": f"shoal.service.name={service}"}
        )
        return [c for c in found if c["Labels"].get("shoal.node.id") in ours]

    def running(self, service: str, count: int) -> list[dict[str, Any]] | None:
        found = self.containers(service)
        return found if len(found) == count else None

    def _identities(self) -> set[str]:
        """The nodes whose identities are kept under this cluster's directory."""
        return {
            json.loads(path.read_text())["node_id"] for path in self.root.rglob("identity.json")
        }

    def node_ids(self) -> set[str]:
        """This cluster's nodes, from the manager while it answers and from the identities its
        nodes keep on disk: the engine may be shared with other clusters (other test runs)."""
        found = self._identities()
        listed = self.answers("node", "ls", "-q")
        if listed is not None and listed.code == 0:
            found |= set(listed.out.split())
        return found

    def stop(self) -> None:
        ours = self.node_ids()
        for daemon in [*self.agents, self.manager]:
            daemon.kill()
        for c in self.engine.containers(all=True, filters={"label": "shoal.task.id"}):
            if c["Labels"].get("shoal.node.id") not in ours:
                continue
            # An agent killed mid-removal may have taken it.
            with contextlib.suppress(docker.errors.NotFound):
                self.engine.remove_container(c["Id"], force=True)
        # The tmpfs an agent mounted for its tasks' secrets: `agent leave` would remove it.
        for node_id in ours:
            TaskFiles(files_dir(node_id)).clear()
        # The engine networks its agents made (an agent removes only its own cluster's): left,
        # they would hold their subnets against the next cluster's networks on this engine.
        clusters = {
            json.loads(path.read_text())["cluster_id"] for path in self.root.rglob("identity.json")
        }
        for cluster_id in clusters:
            for net in self.engine.networks(filters={"label": f"{CLUSTER_LABEL}={cluster_id}"}):
                with contextlib.suppress(docker.errors.NotFound):
                    self.engine.remove_network(net["Id"])
