"""Three managers on one etcd prefix, the second and third added with `manager join`, and an
agent joined through the first: one manager leads; followers serve reads, forward writes and
send agents to the leader; when the leader is killed another leads within a few seconds, the
agent follows it by itself, and no node is marked down for it.
"""

from __future__ import annotations

import asyncio
import base64
import json
import signal
import ssl
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import docker
import grpc
import httpx
import pytest

from common.api import dispatcher_pb2 as pb
from common.api import dispatcher_pb2_grpc
from common.model import ManagerList
from common.tls import Bundle
from tests.integration.cluster import BIN, Cluster, Daemon, Result, free_port
from tests.rogue import Rogue, description
from tests.waiting import SLEEPER, eventually, wait_for

pytestmark = pytest.mark.etcd

# Heartbeats of 1 s: a takeover grace of 6 s, room enough for an agent on a loaded machine.
HEARTBEAT = "1s"


@dataclass
class Managers:
    cluster: Cluster
    # Every manager by its listen address, the first one's included.
    daemons: dict[str, Daemon]

    def shoal(self, addr: str, *args: str, timeout: float = 30) -> Result:
        done = subprocess.run(
            [str(BIN / "shoal"), "--host", addr, *args],
            capture_output=True,
            text=True,
            env=self.cluster.env,
            timeout=timeout,
        )
        return Result(done.returncode, done.stdout, done.stderr)

    def ok(self, addr: str, *args: str) -> Result:
        result = self.shoal(addr, *args)
        assert result.code == 0, f"shoal --host {addr} {' '.join(args)} failed: {result.err}"
        return result

    def answers(self, addr: str) -> bool:
        try:
            return self.shoal(addr, "node", "ls", timeout=10).code == 0
        except subprocess.TimeoutExpired:
            return False

    def alive(self) -> list[str]:
        return [addr for addr, daemon in self.daemons.items() if daemon.alive()]

    def statuses(self, addr: str) -> dict[str, tuple[str, str]]:
        """hostname: (STATUS, MANAGER STATUS), as the manager at addr lists them."""
        try:
            listed = self.shoal(addr, "node", "ls", "--format", "json", timeout=10)
        except subprocess.TimeoutExpired:
            return {}
        if listed.code != 0:
            return {}
        return {n["Hostname"]: (n["Status"], n["ManagerStatus"]) for n in listed.json_lines()}

    def leader(self, asked: str) -> str | None:
        """The listen address of the manager that leads, as the manager at asked sees it."""
        leaders = [h for h, (_, m) in self.statuses(asked).items() if m == "Leader"]
        return ADDRS.get(leaders[0]) if len(leaders) == 1 else None


# Hostname -> listen address, filled as the managers start.
ADDRS: dict[str, str] = {}
# Listen address -> the Docker API's port: one each, as managers sharing a host need.
DOCKER_API: dict[str, int] = {}


def _manager(root: Path, index: int, port: int, token: str, first: str) -> Daemon:
    hostname = f"it-manager-{index}"
    ADDRS[hostname] = f"127.0.0.1:{port}"
    DOCKER_API[ADDRS[hostname]] = free_port()
    return Daemon(
        hostname,
        [
            str(BIN / "manager"),
            "join",
            token,
            first,
            "--listen",
            f"127.0.0.1:{port}",
            "--advertise",
            "127.0.0.1",
            "--state-dir",
            str(root / hostname),
            "--hostname",
            hostname,
            "--heartbeat-period",
            HEARTBEAT,
            "--docker-api-addr",
            f"127.0.0.1:{DOCKER_API[ADDRS[hostname]]}",
        ],
        root / f"{hostname}.log",
    )


@pytest.fixture(scope="module")
def managers(
    engine: docker.APIClient, etcd_endpoint: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Managers]:
    root = tmp_path_factory.mktemp("managers")
    store = f"etcd://{etcd_endpoint}/it-{uuid.uuid4().hex[:12]}"
    first_port = free_port()
    cluster = Cluster(
        root=root,
        port=first_port,
        engine=engine,
        manager_args=["--heartbeat-period", HEARTBEAT, "--store", store],
    )
    ADDRS["it-manager"] = cluster.addr
    daemons = {cluster.addr: cluster.manager}
    group = Managers(cluster, daemons)
    try:
        cluster.start_manager()
        wait_for(lambda: group.leader(cluster.addr) == cluster.addr, "the first manager to lead")
        manager_token = cluster.ok("join-token", "manager", "-q").out.strip()
        for index in (2, 3):
            port = free_port()
            daemon = _manager(root, index, port, manager_token, cluster.addr)
            daemon.start(cluster.env)
            daemons[f"127.0.0.1:{port}"] = daemon
            addr = f"127.0.0.1:{port}"
            wait_for(lambda: group.answers(addr), f"manager {index} to answer")  # noqa: B023
        token = cluster.ok("join-token", "worker", "-q").out.strip()
        agent = Daemon(
            "agent-1",
            [
                str(BIN / "agent"),
                "join",
                token,
                cluster.addr,
                "--state-dir",
                str(root / "agent-1"),
                "--hostname",
                "it-agent-1",
            ],
            root / "agent-1.log",
        )
        agent.start(cluster.env)
        cluster.agents.append(agent)
        wait_for(
            lambda: group.statuses(cluster.addr).get("it-agent-1", ("",))[0] == "Ready",
            "the agent ready",
        )
        yield group
    finally:
        for daemon in daemons.values():
            daemon.kill()
        cluster.stop()


def _took_over(log: Path) -> list[datetime]:
    """When the manager logging to log began to lead, each time it did."""
    found = []
    for line in log.read_text().splitlines():
        # The last line may be half written.
        if '"leading the cluster"' in line and line.endswith("}"):
            found.append(datetime.fromisoformat(json.loads(line)["timestamp"]))
    return found


def _followers(group: Managers) -> list[str]:
    leader = group.leader(group.cluster.addr)
    return [a for a in group.alive() if a != leader]


def test_one_manager_leads_the_others_are_reachable(managers: Managers) -> None:
    """node ls, asked of any manager: one Leader, the other managers Reachable, the agent's
    node no manager status; `shoal info` names the same leader."""
    for addr in managers.alive():
        statuses = managers.statuses(addr)
        assert statuses["it-manager"][1] == "Leader"
        assert statuses["it-manager-2"][1] == "Reachable"
        assert statuses["it-manager-3"][1] == "Reachable"
        assert statuses["it-agent-1"] == ("Ready", "")


def test_a_follower_serves_reads_and_forwards_writes(managers: Managers) -> None:
    """The same answers as from the leader; a write made through a follower is in that
    follower's answer to the next read, and the leader's loops act on it."""
    leader = managers.cluster.addr
    follower = _followers(managers)[0]
    managers.ok(
        follower, "service", "create", "-d", "--name", "via-follower", "--replicas", "2",
        "local/busybox:latest", *SLEEPER,
    )  # fmt: skip
    listed = managers.ok(follower, "service", "ls", "--format", "json").json_lines()
    assert [s["Name"] for s in listed] == ["via-follower"]
    managers.ok(follower, "node", "update", "--label-add", "zone=a", "it-agent-1")
    (node,) = json.loads(managers.ok(follower, "node", "inspect", "it-agent-1").out)
    assert node["Spec"]["Labels"] == {"zone": "a"}
    wait_for(lambda: managers.cluster.running("via-follower", 2), "2 tasks running")
    for args in (("service", "ls"), ("service", "ps", "via-follower"), ("node", "ls")):
        on_leader = managers.ok(leader, *args, "--format", "json").json_lines()
        on_follower = managers.ok(follower, *args, "--format", "json").json_lines()
        # `node ls` marks the node of the manager answering, each its own; `service ps` says
        # how long ago a state began, as of when each call ran.
        for record in (*on_leader, *on_follower):
            record.pop("Self", None)
            if "CurrentState" in record:
                record["CurrentState"] = record["CurrentState"].split()[0]
        assert on_follower == on_leader
    # A bad write through a follower: the leader's one-line refusal, nothing stored.
    refused = managers.shoal(follower, "service", "scale", "via-follower=-1")
    assert refused.code != 0
    assert "via-follower" in managers.ok(leader, "service", "ls").out
    managers.ok(follower, "service", "rm", "via-follower")
    wait_for(lambda: not managers.cluster.containers("via-follower", running=False), "gone")


def _docker_api(managers: Managers, addr: str) -> httpx.Client:
    """A client of the Docker API of the manager at addr, with the admin bundle."""
    admin = managers.cluster.root / "manager" / "admin"
    context = ssl.create_default_context(cafile=str(admin / "ca.pem"))
    context.load_cert_chain(admin / "cert.pem", admin / "key.pem")
    return httpx.Client(
        base_url=f"https://127.0.0.1:{DOCKER_API[addr]}/v1.41", verify=context, timeout=60
    )


def test_a_follower_s_docker_api_sends_writes_and_logs_to_the_leader(
    managers: Managers,
) -> None:
    """Through a follower's Docker API: a secret, a service using it, an update, its logs
    (which only the leader's agent sessions can fetch) and the removals, each seen on the
    leader and on the follower's next read."""
    leader = managers.cluster.addr
    follower = _followers(managers)[0]
    with _docker_api(managers, follower) as api:
        made = api.post(
            "/secrets/create",
            json={"Name": "fwd_pw", "Data": base64.b64encode(b"pw").decode()},
        )
        assert made.status_code == 201, made.text
        spec = {
            "Name": "fwd-web",
            "TaskTemplate": {
                "ContainerSpec": {
                    "Image": "local/busybox:latest",
                    "Args": ["sh", "-c", "cat /run/secrets/fwd_pw; echo; exec sleep 100000"],
                    "Secrets": [{"SecretName": "fwd_pw", "File": {"Name": "fwd_pw"}}],
                }
            },
            "Mode": {"Replicated": {"Replicas": 1}},
        }
        created = api.post("/services/create", json=spec)
        assert created.status_code == 201, created.text
        assert "fwd-web" in managers.ok(leader, "service", "ls").out
        got = api.get("/services/fwd-web").json()
        changed = got["Spec"] | {"Labels": {"via": "follower"}}
        updated = api.post(
            f"/services/fwd-web/update?version={got['Version']['Index']}", json=changed
        )
        assert updated.status_code == 200, updated.text
        # The version read before that update is stale now: the leader's refusal comes back
        # through the follower in docker's words, which scripts look for.
        stale = api.post(
            f"/services/fwd-web/update?version={got['Version']['Index']}", json=changed
        )
        assert stale.status_code == 409
        assert stale.json()["message"].startswith("update out of sequence")
        (on_leader,) = json.loads(managers.ok(leader, "service", "inspect", "fwd-web").out)
        assert on_leader["Spec"]["Labels"] == {"via": "follower"}
        assert api.get("/services/fwd-web").json()["Spec"]["Labels"] == {"via": "follower"}
        wait_for(lambda: managers.cluster.running("fwd-web", 1), "the task running")

        def logged() -> bool:
            answer = api.get("/services/fwd-web/logs", params={"stdout": "1"})
            return answer.status_code == 200 and b"pw" in answer.content

        wait_for(logged, "the secret's data in the logs, through the follower")
        assert api.delete("/services/fwd-web").status_code == 200
        assert api.delete("/secrets/fwd_pw").status_code == 204
        assert "fwd_pw" not in managers.ok(leader, "secret", "ls").out
    wait_for(lambda: not managers.cluster.containers("fwd-web", running=False), "gone")


def test_a_follower_refuses_a_session_naming_the_leader(managers: Managers) -> None:
    """At once, UNAVAILABLE, the details and the `shoal-leader` trailer naming the leader's
    dispatcher, so that the agent goes there."""
    follower = _followers(managers)[0]
    bundle = Bundle.load(managers.cluster.root / "agent-1")

    async def session() -> tuple[grpc.StatusCode, str, dict[str, str], float]:
        async with grpc.aio.secure_channel(follower, bundle.channel_credentials()) as channel:
            stub = dispatcher_pb2_grpc.DispatcherStub(channel)
            started = time.monotonic()
            call = stub.Session(iter([pb.AgentMessage(hello=pb.Hello())]), timeout=10)
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                async for _ in call:
                    pass
            trailing = dict(refused.value.trailing_metadata() or ())
            took = time.monotonic() - started
            return refused.value.code(), refused.value.details() or "", trailing, took

    code, details, trailing, took = asyncio.run(session())
    assert code == grpc.StatusCode.UNAVAILABLE
    assert managers.cluster.addr in details
    assert trailing["shoal-leader"] == managers.cluster.addr
    assert took < 5


def test_the_leader_tells_a_session_where_every_manager_is(managers: Managers) -> None:
    """The managers' dispatcher addresses, the leader's first, after the first assignments.
    (This session replaces the agent's for a moment; the agent takes its place back.)"""
    agent_dir = managers.cluster.root / "agent-1"
    node_id = json.loads((agent_dir / "identity.json").read_text())["node_id"]

    async def listed() -> tuple[ManagerList | None, list[str]]:
        rogue = Rogue(node_id, Bundle.load(agent_dir), managers.cluster.addr)
        await rogue.open(description("it-agent-1"))
        try:
            await eventually(lambda: rogue.managers is not None, "the managers' list", 20)
        finally:
            await rogue.close()
        return rogue.managers, rogue.kinds

    addrs, kinds = asyncio.run(listed())
    assert addrs is not None
    assert addrs.addrs[0] == managers.cluster.addr
    assert sorted(addrs.addrs) == sorted(managers.daemons)
    assert kinds.index("managers") > kinds.index("assignments")


def test_the_leader_killed_another_leads_and_no_node_goes_down(managers: Managers) -> None:
    """kill -9 of the leader: another manager leads within a few seconds and takes a write;
    the agent's node, back on the new leader within the grace period, is never marked down
    and its containers are the same ones."""
    first = managers.cluster.addr
    managers.ok(
        first, "service", "create", "-d", "--name", "kept", "--replicas", "2",
        "--constraint", "node.hostname==it-agent-1", "local/busybox:latest", *SLEEPER,
    )  # fmt: skip
    before = sorted(c["Id"] for c in wait_for(lambda: managers.cluster.running("kept", 2), "2"))
    survivor = _followers(managers)[0]

    managers.daemons[first].kill(signal.SIGKILL)
    killed, killed_at = time.monotonic(), datetime.now(UTC)

    def another_leader() -> str | None:
        # From the managers' own logs: the client, slow to start on a loaded machine, would
        # measure itself.
        for addr in managers.alive():
            if any(t > killed_at for t in _took_over(managers.daemons[addr].log)):
                return addr
        return None

    new_leader = wait_for(another_leader, "a new leader", 30)
    wait_for(
        lambda: (
            managers.shoal(survivor, "node", "update", "--label-add", "after=1", "it-agent-1").code
            == 0
        ),
        "a write accepted",
        60,
    )
    written = time.monotonic() - killed
    # From the new leader's own log: when it took over (the CLI's own start is slow here).
    took_over = max(_took_over(managers.daemons[new_leader].log)) - killed_at
    print(
        f"leader killed: the new leader led after {took_over.total_seconds():.1f} s;"
        f" a client had a write taken after {written:.1f} s"
    )
    assert took_over < timedelta(seconds=6)

    # Through the grace period and beyond: the agent's node never down, its tasks in place.
    seen: set[str] = set()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        seen.add(managers.statuses(survivor).get("it-agent-1", ("?",))[0])
    assert "Down" not in seen
    assert managers.statuses(survivor)["it-agent-1"][0] == "Ready"
    assert sorted(c["Id"] for c in managers.cluster.containers("kept")) == before
    tasks = managers.ok(survivor, "service", "ps", "kept", "--format", "json").json_lines()
    assert sorted(t["CurrentState"].split()[0] for t in tasks) == ["Running", "Running"]
    assert managers.statuses(survivor)["it-manager"][1] == "Unreachable"
