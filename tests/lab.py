"""A multi-host lab on one machine: each host a network namespace with its own address and its
own dockerd; `manager serve` on h1 (a node too) and `agent join` on the others, or, for several
managers, `manager join` on some of them.

Used by the e2e tests (one lab per session) and by people: `scripts/lab.sh up|down|status`.
Traffic stays on the lab bridge's 10.77.0.0/24 and loopback. Needs root, iproute2, iptables,
nsenter, dockerd and busybox-static (see ../shared/LAB.md for the traps this avoids).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker

from agent.runtime.base import SERVICE_NAME_LABEL
from common.mesh_flag import ENV as MESH_ENV
from tests.lab_host import (
    BIN,
    BRIDGE,
    GATEWAY,
    PORT,
    REPO,
    SUBNET,
    Host,
    has_image,
    nameservers,
    no_traceback,
    pings,
    run,
)
from tests.waiting import wait_for


@dataclass
class Lab:
    root: Path
    size: int = 3
    heartbeat: str = "0.5s"
    hosts: list[Host] = field(default_factory=list)
    token: str = ""
    # Added to h1's `manager serve` (e.g. --store, for a cluster that can take more managers).
    manager_args: list[str] = field(default_factory=list)
    # The hosts that run a manager, h1 first.
    managers: list[Host] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.hosts = [Host(i, self.root / f"h{i}") for i in range(1, self.size + 1)]

    @property
    def manager(self) -> Host:
        return self.hosts[0]

    @property
    def addr(self) -> str:
        return f"{self.manager.addr}:{PORT}"

    @property
    def manager_addrs(self) -> list[str]:
        return [f"{h.addr}:{PORT}" for h in self.managers] or [self.addr]

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            # Every manager: the client goes on to the next when one is unavailable.
            "SHOAL_HOST": ",".join(self.manager_addrs),
            "SHOAL_CONFIG": str(self.manager.state_dir / "admin"),
            # Each lab host is a network namespace of its own: the routing mesh runs on each.
            MESH_ENV: "1",
        }

    # -- network ------------------------------------------------------------------------------

    def _network_up(self) -> None:
        run("ip", "link", "add", BRIDGE, "type", "bridge")
        run("ip", "addr", "add", f"{GATEWAY}/24", "dev", BRIDGE)
        run("ip", "link", "set", BRIDGE, "up")
        # A root-namespace dockerd sets FORWARD to DROP; lab hosts must still reach each other.
        run("iptables", "-I", "FORWARD", "-i", BRIDGE, "-o", BRIDGE, "-j", "ACCEPT")
        for host in self.hosts:
            self.attach(host)

    def attach(self, host: Host) -> None:
        """host's network namespace, on the lab's bridge at host.addr (also a namespace with no
        engine: a benchmark's load generator)."""
        run("ip", "netns", "add", host.netns)
        run("ip", "link", "add", host.veth, "type", "veth", "peer", "name", "eth0",
            "netns", host.netns)  # fmt: skip
        run("ip", "link", "set", host.veth, "master", BRIDGE, "up")
        ns = ("ip", "-n", host.netns)
        run(*ns, "addr", "add", f"{host.addr}/24", "dev", "eth0")
        run(*ns, "link", "set", "eth0", "up")
        run(*ns, "link", "set", "lo", "up")
        run(*ns, "route", "add", "default", "via", GATEWAY)
        # Lookups of the machine's resolver would hang 20 s from inside: fail them at once.
        for server in nameservers():
            run(*ns, "route", "add", "unreachable", server, check=False)

    def detach(self, host: Host) -> None:
        run("ip", "netns", "del", host.netns, check=False)
        run("ip", "link", "del", host.veth, check=False)

    def _network_down(self) -> None:
        for host in self.hosts:
            self.detach(host)
        run("ip", "link", "del", BRIDGE, check=False)
        while (
            run(
                "iptables", "-D", "FORWARD", "-i", BRIDGE, "-o", BRIDGE, "-j", "ACCEPT", check=False
            ).returncode
            == 0
        ):
            pass

    # -- engines ------------------------------------------------------------------------------

    def start_engine(self, host: Host) -> None:
        host.root.mkdir(parents=True, exist_ok=True)
        _drop_stale_pidfile(host.root / "exec" / "containerd" / "containerd.pid", host.root)
        with (host.root / "dockerd.log").open("ab") as out:
            host.dockerd = subprocess.Popen(
                host.inside(
                    "dockerd",
                    "--data-root",
                    str(host.root / "data"),
                    "--exec-root",
                    str(host.root / "exec"),
                    "-H",
                    host.docker_host,
                    "--pidfile",
                    str(host.root / "docker.pid"),
                    # The lab's registry (tests/registry.py) serves plain HTTP on a lab address.
                    "--insecure-registry",
                    f"{SUBNET}.0/24",
                ),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_for(lambda: pings(host), f"{host.name}'s dockerd")

    def kill_engine(self, host: Host) -> None:
        if host.dockerd is not None:
            host.dockerd.send_signal(signal.SIGKILL)
            host.dockerd.wait(timeout=30)
            host.dockerd = None

    def _load_image(self, host: Host) -> None:
        if has_image(host):
            return
        subprocess.run(
            [str(REPO / "scripts" / "engine.sh"), "image"],
            env={**os.environ, "DOCKER_HOST": host.docker_host},
            check=True,
            timeout=120,
        )

    # -- daemons ------------------------------------------------------------------------------

    def _spawn(self, host: Host, argv: list[str]) -> None:
        with host.log.open("ab") as out:
            host.daemon = subprocess.Popen(
                host.inside(*argv), stdout=out, stderr=out, env=self.env, start_new_session=True
            )

    def _manager_argv(self, host: Host, *command: str) -> list[str]:
        return [
            str(BIN / "manager"),
            *command,
            "--listen",
            f"0.0.0.0:{PORT}",
            "--advertise",
            host.addr,
            "--state-dir",
            str(host.state_dir),
            "--docker-host",
            host.docker_host,
            "--hostname",
            host.name,
            "--heartbeat-period",
            self.heartbeat,
        ]

    def start_manager(self, host: Host | None = None) -> None:
        """`manager serve` on host, by default h1 (with manager_args); a manager that joined
        resumes from its state dir."""
        self.start_managers([host or self.manager])

    def start_managers(self, hosts: list[Host]) -> None:
        """`manager serve` on every one of hosts at once, as an operator restarting them all
        would, then waits for each to answer."""
        for host in hosts:
            argv = self._manager_argv(host, "serve")
            if host is self.manager:
                argv += self.manager_args
            self._spawn(host, argv)
            if host not in self.managers:
                self.managers.append(host)
        for host in hosts:
            self._wait_answers(host)

    def join_manager(self, host: Host) -> None:
        """`manager join` on host, with the manager token, through h1."""
        token = self.shoal("join-token", "manager", "-q").stdout.strip()
        self._spawn(host, self._manager_argv(host, "join", token, self.addr))
        self.managers.append(host)
        self._wait_answers(host)

    def _wait_answers(self, host: Host) -> None:
        addr = f"{host.addr}:{PORT}"
        wait_for(
            lambda: self.shoal("--host", addr, "node", "ls").returncode == 0,
            f"the manager on {host.name} to answer",
        )

    def start_agent(self, host: Host) -> None:
        """`agent join` the first time, `agent run` (no token) after that."""
        if (host.state_dir / "identity.json").exists():
            argv = [str(BIN / "agent"), "run"]
        else:
            argv = [str(BIN / "agent"), "join", self.token, self.addr]
        argv += [
            "--state-dir",
            str(host.state_dir),
            "--docker-host",
            host.docker_host,
            "--hostname",
            host.name,
        ]
        self._spawn(host, argv)

    def kill_daemon(self, host: Host) -> None:
        if host.daemon is not None:
            host.daemon.send_signal(signal.SIGKILL)
            host.daemon.wait(timeout=30)
            host.daemon = None

    def restart_daemon(self, host: Host) -> None:
        if host in self.managers or host is self.manager:
            self.start_manager(host)
        else:
            self.start_agent(host)

    # -- failures -----------------------------------------------------------------------------

    def cut(self, host: Host) -> None:
        """A partition: the host's link goes down, its containers keep running."""
        run("ip", "link", "set", host.veth, "down")

    def restore(self, host: Host) -> None:
        run("ip", "link", "set", host.veth, "up")

    # -- whole lab ----------------------------------------------------------------------------

    def engines_up(self) -> None:
        """The hosts, their network and their engines with the test image; no Shoal daemon."""
        self.root.mkdir(parents=True, exist_ok=True)
        self._network_up()
        for host in self.hosts:
            self.start_engine(host)
            self._load_image(host)

    def up(self) -> None:
        self.engines_up()
        self.start_manager()
        self.token = self.shoal("join-token", "worker", "-q").stdout.strip()
        for host in self.hosts[1:]:
            self.start_agent(host)
        wait_for(lambda: self.ready_nodes() == self.size, f"{self.size} ready nodes", 60)

    def down(self) -> None:
        for host in self.hosts:
            self.kill_daemon(host)
        for host in self.hosts:
            if pings(host):
                with host.engine() as api:
                    for c in api.containers(all=True):
                        api.remove_container(c["Id"], force=True)
            if host.dockerd is not None:
                host.dockerd.terminate()
                try:
                    host.dockerd.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    host.dockerd.kill()
        self._kill_strays()
        self._network_down()
        _unmount_below(self.root)
        run("rm", "-rf", str(self.root), check=False)

    def _kill_strays(self) -> None:
        """Processes a killed dockerd left behind (containerd, shims) hold the lab's files."""
        for proc in Path("/proc").glob("[0-9]*"):
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if str(self.root) + "/" in cmdline and int(proc.name) != os.getpid():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(proc.name), signal.SIGKILL)

    # -- observing ----------------------------------------------------------------------------

    def shoal(
        self, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """env: variables to set besides the lab's."""
        return no_traceback(
            subprocess.run(
                [str(BIN / "shoal"), *args],
                capture_output=True,
                text=True,
                env={**self.env, **(env or {})},
                timeout=30,
            )
        )

    def json_lines(self, *args: str) -> list[dict[str, Any]]:
        done = self.shoal(*args, "--format", "json")
        if done.returncode != 0:
            raise AssertionError(f"shoal {' '.join(args)}: {done.stderr.strip()}")
        return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]

    def nodes(self) -> dict[str, dict[str, Any]]:
        return {n["Hostname"]: n for n in self.json_lines("node", "ls")}

    def ready_nodes(self) -> int:
        done = self.shoal("node", "ls", "--format", "json")
        if done.returncode != 0:
            return 0
        return sum(1 for line in done.stdout.splitlines() if json.loads(line)["Status"] == "Ready")

    def running(self, service: str) -> dict[str, list[str]]:
        """host name -> IDs of the service's running containers there."""
        return {
            host: by_service.get(service, [])
            for host, by_service in self._listed(f"{SERVICE_NAME_LABEL}={service}").items()
        }

    def running_services(self) -> dict[str, dict[str, list[str]]]:
        """service name -> host name -> IDs of its running containers there, every service's
        in one listing per host (a soak's look stays short under load)."""
        found: dict[str, dict[str, list[str]]] = {}
        for host, by_service in self._listed(SERVICE_NAME_LABEL).items():
            for service, ids in by_service.items():
                found.setdefault(service, {})[host] = ids
        return found

    def _listed(self, label: str) -> dict[str, dict[str, list[str]]]:
        """host name -> service name -> IDs of running containers labelled label there, the
        engines asked at once; a host whose engine does not answer is left out."""

        def listing(host: Host) -> list[dict[str, Any]] | None:
            try:
                with host.engine() as api:
                    return list(api.containers(filters={"label": label}))
            except docker.errors.DockerException:
                return None

        hosts = [h for h in self.hosts if h.dockerd is not None]
        with ThreadPoolExecutor(max(1, len(hosts))) as pool:
            listings = list(pool.map(listing, hosts))
        found: dict[str, dict[str, list[str]]] = {}
        for host, listed in zip(hosts, listings, strict=True):
            if listed is None:
                continue
            by_service = found.setdefault(host.name, {})
            for c in listed:
                by_service.setdefault(c["Labels"][SERVICE_NAME_LABEL], []).append(c["Id"])
        return found


def _drop_stale_pidfile(path: Path, root: Path) -> None:
    """A killed dockerd's containerd dies with it, but its pid file stays; if that pid has been
    reused meanwhile, the next dockerd waits for a containerd that is not there."""
    try:
        pid = int(path.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        path.unlink(missing_ok=True)
        return
    if str(root).encode() not in cmdline:
        path.unlink(missing_ok=True)


def _unmount_below(root: Path) -> None:
    mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    for point in sorted((m for m in mounts if m.startswith(f"{root}/")), reverse=True):
        run("umount", "-l", point, check=False)


def main() -> None:
    usage = "usage: lab.py up [N] | down | status (state in $SHOAL_LAB_DIR, default /tmp/shoal-lab)"
    root = Path(os.environ.get("SHOAL_LAB_DIR", "/tmp/shoal-lab"))
    if len(sys.argv) < 2 or sys.argv[1] not in ("up", "down", "status"):
        sys.exit(usage)
    size = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    lab = Lab(root, size=size, heartbeat="1s")
    if sys.argv[1] == "up":
        if root.exists():
            sys.exit(f"a lab already runs in {root}: `lab.sh down` first")
        try:
            lab.up()
        except BaseException:
            lab.down()
            raise
        print(lab.shoal("node", "ls").stdout)
        print(f"export SHOAL_HOST={lab.addr} SHOAL_CONFIG={lab.manager.state_dir / 'admin'}")
        for host in lab.hosts:
            print(f"{host.name}: {host.addr}  DOCKER_HOST={host.docker_host}  netns {host.netns}")
    elif sys.argv[1] == "down":
        lab.down()
    else:
        print(lab.shoal("node", "ls").stdout or lab.shoal("node", "ls").stderr)


if __name__ == "__main__":
    main()
