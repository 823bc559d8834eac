"""The real docker CLIs of this machine (the image's 28.x client and Debian's 20.10) as clients
of a manager's Docker API, with the admin bundle as docker's TLS files."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.integration.cluster import Cluster, Result

CLIENTS = [p for p in (Path("/usr/local/bin/docker"), Path("/usr/bin/docker")) if p.is_file()]


def tag_of(cli: Path) -> str:
    """A short name per client, so each one's objects are its own on a shared cluster."""
    return "new" if "local" in cli.parts else "deb"


class DockerCli:
    def __init__(self, cli: Path, api_addr: str, admin: Path, home: Path) -> None:
        """api_addr: the manager's Docker API, HOST:PORT; admin: its admin bundle's directory;
        home: where the client keeps its own config."""
        self.cli = cli
        self.env = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(home),
            "DOCKER_HOST": f"tcp://{api_addr}",
            "DOCKER_TLS_VERIFY": "1",
            "DOCKER_CERT_PATH": str(admin),
            "DOCKER_CONFIG": str(home / f"docker-config-{tag_of(cli)}"),
        }

    def run(self, *args: str, timeout: float = 120) -> Result:
        done = subprocess.run(
            [str(self.cli), *args], capture_output=True, text=True, env=self.env, timeout=timeout
        )
        return Result(done.returncode, done.stdout, done.stderr)

    def ok(self, *args: str, timeout: float = 120) -> str:
        result = self.run(*args, timeout=timeout)
        assert result.code == 0, f"docker {' '.join(args)}: {result.err}"
        return result.out

    def lines(self, *args: str, timeout: float = 120) -> list[str]:
        return self.ok(*args, timeout=timeout).splitlines()


def of_cluster(cli: Path, cluster: Cluster) -> DockerCli:
    """The client of an integration cluster's manager (tests/integration/cluster.py)."""
    return DockerCli(
        cli,
        f"127.0.0.1:{cluster.docker_api_port}",
        cluster.root / "manager" / "admin",
        cluster.root,
    )
