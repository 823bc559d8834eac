"""A 3-member etcd cluster in the lab, one member per host (h1-h3), on the lab addresses: for the
e2e tests and benchmarks of several managers. Members can be killed and started again; a
restarted member rejoins from its data dir.

Needs the lab's namespaces up (tests/lab.py) and Debian's etcd-server and etcd-client;
managers_on_etcd() brings a whole lab up with three managers on it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from tests.etcd_member import MAX_REQUEST_BYTES, MAX_TXN_OPS
from tests.lab import Lab
from tests.waiting import wait_for

CLIENT_PORT = 2379
PEER_PORT = 2380


class EtcdHost(Protocol):
    """Where a member runs: a lab host, or an address of the machine's own loopback."""

    @property
    def index(self) -> int: ...

    @property
    def name(self) -> str: ...

    @property
    def addr(self) -> str: ...

    def inside(self, *argv: str) -> list[str]: ...


@dataclass
class Member:
    host: EtcdHost
    root: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def name(self) -> str:
        return f"e{self.host.index}"

    @property
    def endpoint(self) -> str:
        return f"{self.host.addr}:{CLIENT_PORT}"

    @property
    def peer_url(self) -> str:
        return f"http://{self.host.addr}:{PEER_PORT}"


class LabEtcd:
    def __init__(self, hosts: Sequence[EtcdHost], root: Path) -> None:
        self.root = root
        self.members = [Member(h, root / f"etcd-{h.name}") for h in hosts]

    @property
    def endpoints(self) -> list[str]:
        return [m.endpoint for m in self.members]

    def url(self, prefix: str = "/shoal") -> str:
        """What `manager serve --store` takes for this cluster."""
        return f"etcd://{','.join(self.endpoints)}{prefix}"

    def start(self, member: Member) -> None:
        """Start (or restart, from its data dir) one member."""
        member.root.mkdir(parents=True, exist_ok=True)
        cluster = ",".join(f"{m.name}={m.peer_url}" for m in self.members)
        client = f"http://{member.endpoint}"
        with (member.root / "etcd.log").open("ab") as log:
            member.process = subprocess.Popen(
                member.host.inside(
                    "etcd",
                    f"--name={member.name}",
                    f"--data-dir={member.root / 'data'}",
                    f"--listen-client-urls={client}",
                    f"--advertise-client-urls={client}",
                    f"--listen-peer-urls={member.peer_url}",
                    f"--initial-advertise-peer-urls={member.peer_url}",
                    f"--initial-cluster={cluster}",
                    "--initial-cluster-state=new",
                    f"--max-txn-ops={MAX_TXN_OPS}",
                    f"--max-request-bytes={MAX_REQUEST_BYTES}",
                ),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def start_all(self) -> None:
        if shutil.which("etcd") is None or shutil.which("etcdctl") is None:
            raise RuntimeError("etcd is not installed: scripts/deps.sh etcd-server etcd-client")
        for member in self.members:
            self.start(member)
        wait_for(lambda: self.healthy(self.members), "3 healthy etcd members", 60)

    def kill(self, member: Member, sig: int = signal.SIGKILL) -> None:
        if member.process is not None:
            member.process.send_signal(sig)
            member.process.wait(timeout=30)
            member.process = None

    def stop_all(self) -> None:
        for member in self.members:
            if member.process is not None and member.process.poll() is None:
                self.kill(member, signal.SIGTERM)

    # -- observing ----------------------------------------------------------------------------

    def _etcdctl(self, members: list[Member], *args: str) -> subprocess.CompletedProcess[str]:
        endpoints = ",".join(m.endpoint for m in members)
        return subprocess.run(
            ["etcdctl", f"--endpoints={endpoints}", "--command-timeout=3s", *args],
            capture_output=True,
            text=True,
            timeout=30,
            env={**os.environ, "ETCDCTL_API": "3"},
        )

    def healthy(self, members: list[Member]) -> bool:
        """Every one of members answers a read that needs a quorum."""
        return self._etcdctl(members, "endpoint", "health").returncode == 0

    def leader(self) -> Member | None:
        """The member that leads, asked of every member that runs."""
        running = [m for m in self.members if m.process is not None]
        done = self._etcdctl(running, "endpoint", "status", "-w", "json")
        if done.returncode != 0:
            return None
        for status in json.loads(done.stdout):
            if status["Status"]["leader"] == status["Status"]["header"]["member_id"]:
                host = status["Endpoint"].removeprefix("http://").rpartition(":")[0]
                return next(m for m in self.members if m.host.addr == host)
        return None


@contextmanager
def lab_etcd(hosts: Sequence[EtcdHost], root: Path) -> Iterator[LabEtcd]:
    """A 3-member cluster on hosts until the block ends, however it ends."""
    cluster = LabEtcd(hosts, root)
    try:
        cluster.start_all()
        yield cluster
    finally:
        cluster.stop_all()


def managers_on_etcd(lab: Lab) -> LabEtcd:
    """On a lab whose engines are up: etcd members on h1-h3, `manager serve --store` on h1,
    `manager join` on h2 and h3, and agents on the other hosts. Returns the etcd cluster; the
    lab's down() ends its members too (they run from the lab's root)."""
    etcd = LabEtcd(lab.hosts[:3], lab.root / "etcd")
    lab.manager_args = ["--store", etcd.url()]
    etcd.start_all()
    lab.start_manager()
    for host in lab.hosts[1:3]:
        lab.join_manager(host)
    lab.token = lab.shoal("join-token", "worker", "-q").stdout.strip()
    for host in lab.hosts[3:]:
        lab.start_agent(host)
    return etcd
