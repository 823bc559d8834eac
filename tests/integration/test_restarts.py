"""Agents and the manager killed with -9 and started again: nothing is lost or restarted."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest

from tests.integration.cluster import Cluster, Daemon
from tests.waiting import SLEEPER, wait_for


@pytest.fixture(scope="module")
def heartbeat() -> float:
    """A node counts as down after three missed beats, and then its tasks move elsewhere: these
    tests restart a process within that time, which a loaded machine stretched to 12 s."""
    return 5.0


@pytest.fixture(autouse=True)
def no_service_left(cluster: Cluster) -> Iterator[None]:
    """Each test starts with no service, whether the one before it passed or not."""
    yield
    names = [s["Name"] for s in cluster.ok("service", "ls", "--format", "json").json_lines()]
    for name in names:
        cluster.ok("service", "rm", name)
    wait_for(
        lambda: not any(cluster.containers(name, running=False) for name in names),
        "the services' containers to go",
    )


def _create(cluster: Cluster, name: str, replicas: int) -> None:
    argv = ["service", "create", "-d", "--name", name, "--replicas", str(replicas)]
    cluster.ok(*argv, "local/busybox:latest", *SLEEPER)


class TestRestarts:
    def test_restarted_agent_adopts_its_containers(self, cluster: Cluster) -> None:
        """A killed agent resumed by `agent run` adopts its containers: no duplicate, no restart."""
        _create(cluster, "steady", 3)
        before = sorted(
            c["Id"] for c in wait_for(lambda: cluster.running("steady", 3), "3 running")
        )
        agent = cluster.agents[0]
        sessions = agent.log_text().count('"session established"')
        agent.kill(signal.SIGKILL)
        resumed = Daemon(agent.name, [*agent.argv[:1], "run", *agent.argv[4:]], agent.log)
        resumed.start(cluster.env)
        cluster.agents[0] = resumed
        # Both processes log to one file: a session more is the resumed agent's.
        wait_for(
            lambda: resumed.log_text().count('"session established"') > sessions,
            "the resumed agent's session",
        )
        wait_for(lambda: cluster.all_ready(3), "all nodes ready again")
        assert sorted(c["Id"] for c in cluster.containers("steady", running=False)) == before

    def test_name_given_at_join_survives_a_plain_agent_run(self, cluster: Cluster) -> None:
        """`agent run` without --hostname keeps the name given at join, so a service pinned by
        node.hostname keeps its container; `agent run --hostname` renames the node, and later
        starts keep the new name."""
        cluster.ok(
            "service", "create", "-d", "--name", "pinned", "--constraint",
            "node.hostname==it-agent-2", "local/busybox:latest", *SLEEPER,
        )  # fmt: skip
        before = [c["Id"] for c in wait_for(lambda: cluster.running("pinned", 1), "1 running")]
        agent = cluster.agents[1]
        state_dir = agent.argv[agent.argv.index("--state-dir") + 1]

        def restart(*extra: str) -> None:
            cluster.agents[1].kill(signal.SIGKILL)
            resumed = Daemon(
                agent.name, [agent.argv[0], "run", "--state-dir", state_dir, *extra], agent.log
            )
            resumed.start(cluster.env)
            cluster.agents[1] = resumed

        def named(hostname: str) -> bool:
            return any(
                n["Hostname"] == hostname and n["Status"] == "Ready" for n in cluster.nodes()
            )

        restart()
        wait_for(lambda: named("it-agent-2"), "the node back under the name given at join")
        assert [c["Id"] for c in cluster.containers("pinned", running=False)] == before
        assert [t["CurrentState"].split()[0] for t in cluster.tasks("pinned")] == ["Running"]
        restart("--hostname", "it-renamed")
        wait_for(lambda: named("it-renamed"), "the node renamed")
        restart()
        wait_for(lambda: named("it-renamed"), "the new name kept without the flag")
        assert not any(n["Hostname"] == "it-agent-2" for n in cluster.nodes())
        restart("--hostname", "it-agent-2")
        wait_for(lambda: named("it-agent-2"), "the node's first name back for the other tests")

    def test_manager_killed_and_restarted_keeps_everything(self, cluster: Cluster) -> None:
        """kill -9 of the manager, then a restart: services, nodes and containers all remain."""
        _create(cluster, "durable", 3)
        before = sorted(
            c["Id"] for c in wait_for(lambda: cluster.running("durable", 3), "3 running")
        )
        nodes_before = sorted(n["ID"] for n in cluster.nodes())
        tokens_before = [cluster.ok("join-token", r, "-q").out for r in ("worker", "manager")]
        cluster.manager.kill(signal.SIGKILL)
        assert cluster.shoal("service", "ls").code == 1
        cluster.start_manager()
        assert [
            s["Name"] for s in cluster.ok("service", "ls", "--format", "json").json_lines()
        ] == ["durable"]
        wait_for(lambda: cluster.all_ready(3), "every agent to reconnect")
        assert sorted(n["ID"] for n in cluster.nodes()) == nodes_before
        assert [
            cluster.ok("join-token", r, "-q").out for r in ("worker", "manager")
        ] == tokens_before
        # The join command is printed at creation only, not again on every start.
        printed = cluster.manager.out.read_text()
        assert "Cluster resumed" in printed
        assert printed.count(tokens_before[0].strip()) == 1
        assert sorted(c["Id"] for c in cluster.containers("durable", running=False)) == before
