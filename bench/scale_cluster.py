"""The processes of the scale benchmark: a real manager (drained) and `agent hollow` processes,
with what the benchmark reads of them: CPU and memory from /proc, cluster counts from the
manager's /metrics, and Control API calls over mutual TLS."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from common import convert, message_limits
from common.api import control_pb2 as api
from common.api import control_pb2_grpc
from common.model import ContainerSpec, ServiceSpec
from common.tls import Bundle
from tests.integration.cluster import free_port

BIN = Path(sys.executable).parent
IMAGE = "local/busybox:latest"
_TICK = os.sysconf("SC_CLK_TCK")


@dataclass
class Process:
    name: str
    argv: list[str]
    log: Path
    popen: subprocess.Popen[bytes] | None = None

    def start(self, env: dict[str, str]) -> None:
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                self.argv, stdout=out, stderr=out, env=env, start_new_session=True
            )

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def cpu_seconds(self) -> float:
        """User and system time so far (fields 14 and 15 of /proc/PID/stat)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICK

    def rss_bytes(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    def last_words(self, lines: int = 5) -> str:
        """The end of its log: the benchmark's directory is gone once the run ends."""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.alive():
            assert self.popen is not None
            self.popen.send_signal(sig)
            try:
                self.popen.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=30)


def cpu_share(procs: list[Process], seconds: float) -> float:
    """The processes' CPU over a window of seconds, as a fraction of one core."""
    before = sum(p.cpu_seconds() for p in procs)
    start = time.monotonic()
    time.sleep(seconds)
    return (sum(p.cpu_seconds() for p in procs) - before) / (time.monotonic() - start)


# A hollow process stands for a thousand hosts with CPUs of their own; here they share the
# manager's two cores. Each runs in a session of its own, so the kernel's autogroups gave each
# the same weight as the manager: ten of them reconnecting at once held the manager to a tenth
# of the CPU, it could not accept their connections, and they tried again, busier still. They
# run at the lowest priority, and the manager gets the CPU it would have on a host of its own.
HOLLOW_NICE = 19


def _yield_to_the_manager(pid: int) -> None:
    autogroup = Path(f"/proc/{pid}/autogroup")
    if autogroup.exists():
        autogroup.write_text(str(HOLLOW_NICE))


@dataclass
class Cluster:
    root: Path
    store: str = ""
    port: int = field(default_factory=free_port)
    metrics_port: int = field(default_factory=free_port)
    manager: Process = field(init=False)
    hollows: list[Process] = field(default_factory=list)

    def __post_init__(self) -> None:
        argv = [
            str(BIN / "manager"),
            "serve",
            "--listen",
            self.addr,
            "--advertise",
            "127.0.0.1",
            "--state-dir",
            str(self.root / "manager"),
            "--availability",
            "drain",
            "--hostname",
            "bench-manager",
            "--metrics-addr",
            f"127.0.0.1:{self.metrics_port}",
            "--log-level",
            "warning",
        ]
        if self.store:
            argv += ["--store", self.store]
        self.manager = Process("manager", argv, self.root / "manager.log")

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "SHOAL_CONFIG": str(self.root / "manager" / "admin")}

    def start_manager(self, deadline: float = 60.0) -> None:
        self.manager.start(self.env)
        until = time.monotonic() + deadline
        while time.monotonic() < until:
            if not self.manager.alive():
                raise RuntimeError(f"the manager exited: see {self.manager.log}")
            try:
                self.counts()
                if (self.root / "manager" / "admin" / "key.pem").exists():
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"the manager did not answer in {deadline:.0f} s")

    def token(self) -> str:
        done = subprocess.run(
            [str(BIN / "shoal"), "--host", self.addr, "join-token", "worker", "-q"],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=30,
            check=True,
        )
        return done.stdout.strip()

    def start_hollow(self, name: str, count: int, token: str) -> Process:
        argv = [
            str(BIN / "agent"),
            "hollow",
            "--count",
            str(count),
            "--state-dir",
            str(self.root / name),
            "--hostname-prefix",
            f"{name}-",
            token,
            self.addr,
        ]
        hollow = Process(name, ["nice", "-n", str(HOLLOW_NICE), *argv], self.root / f"{name}.log")
        hollow.start(self.env)
        _yield_to_the_manager(hollow.pid)
        self.hollows.append(hollow)
        return hollow

    def counts(self) -> tuple[Counter[str], Counter[str]]:
        """Nodes by state and tasks by state, as the manager's gauges have them."""
        nodes: Counter[str] = Counter()
        tasks: Counter[str] = Counter()
        for sample in self._samples():
            if sample.name == "shoal_nodes":
                nodes[sample.labels["state"]] += int(sample.value)
            elif sample.name == "shoal_tasks":
                tasks[sample.labels["state"]] += int(sample.value)
        return nodes, tasks

    def marked_down(self) -> int:
        """How many times this manager process marked a node down."""
        return self._sample("shoal_nodes_marked_down_total")

    def returning(self) -> int:
        """How many nodes this manager awaits back since it started, until it stops waiting."""
        return self._sample("shoal_dispatcher_nodes_returning")

    def _sample(self, name: str) -> int:
        return int(next((s.value for s in self._samples() if s.name == name), 0))

    def _samples(self) -> Iterator[Sample]:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as answer:
            text = answer.read().decode()
        for family in text_string_to_metric_families(text):
            yield from family.samples

    def channel(self) -> grpc.aio.Channel:
        bundle = Bundle.load(self.root / "manager" / "admin")
        return grpc.aio.secure_channel(
            self.addr, bundle.channel_credentials(), options=message_limits.OPTIONS
        )

    def stop(self) -> None:
        for process in [*self.hollows, self.manager]:
            process.stop()


def create_request(name: str, replicas: int) -> api.CreateServiceRequest:
    spec = ServiceSpec(name=name, container=ContainerSpec(image=IMAGE), replicas=replicas)
    return api.CreateServiceRequest(spec=convert.spec_to_pb(spec))


def stub(channel: grpc.aio.Channel) -> control_pb2_grpc.ControlAsyncStub:
    control: control_pb2_grpc.ControlAsyncStub = control_pb2_grpc.ControlStub(channel)
    return control
