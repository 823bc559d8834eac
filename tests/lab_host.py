"""One host of the lab: a network namespace with its own address and its own dockerd, and the
commands that reach into it."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import docker

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parent.parent
BRIDGE = "shoallab0"
SUBNET = "10.77.0"
GATEWAY = f"{SUBNET}.1"
PORT = 7462


def run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, check=check, capture_output=True, text=True, timeout=60)


def no_traceback(done: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    """A shoal command's outcome, refused if it printed a traceback: whatever happens to the
    cluster meanwhile, a user is owed a clear line, never Python's internals."""
    if "Traceback (most recent call last)" in done.stderr:
        raise AssertionError(f"{' '.join(map(str, done.args))} printed a traceback:\n{done.stderr}")
    return done


def nameservers() -> list[str]:
    try:
        lines = Path("/etc/resolv.conf").read_text().splitlines()
    except OSError:
        return []
    return [ln.split()[1] for ln in lines if ln.startswith("nameserver") and len(ln.split()) > 1]


@dataclass
class Host:
    index: int
    root: Path
    dockerd: subprocess.Popen[bytes] | None = None
    daemon: subprocess.Popen[bytes] | None = None

    @property
    def name(self) -> str:
        return f"h{self.index}"

    @property
    def netns(self) -> str:
        return f"shoal-{self.name}"

    @property
    def veth(self) -> str:
        return f"shl-{self.name}"

    @property
    def addr(self) -> str:
        return f"{SUBNET}.{10 + self.index}"

    @property
    def docker_host(self) -> str:
        return f"unix://{self.root}/docker.sock"

    @property
    def state_dir(self) -> Path:
        return self.root / "state"

    @property
    def log(self) -> Path:
        return self.root / "daemon.log"

    def inside(self, *argv: str) -> list[str]:
        # nsenter, not `ip netns exec`: the latter remounts /sys and dockerd then finds no cgroups.
        return ["nsenter", f"--net=/run/netns/{self.netns}", *argv]

    def engine(self) -> docker.APIClient:
        return docker.APIClient(base_url=self.docker_host, version="auto")


def pings(host: Host) -> bool:
    try:
        with host.engine() as api:
            return bool(api.ping())
    except docker.errors.DockerException:
        return False
    except OSError:
        return False


def has_image(host: Host) -> bool:
    with host.engine() as api:
        return any("local/busybox:latest" in (i.get("RepoTags") or []) for i in api.images())
