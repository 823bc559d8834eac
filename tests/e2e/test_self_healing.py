"""Self-healing across hosts: lost nodes, agents, engines, containers and the manager itself.

Deadlines are the generous bounds the behaviour must meet with the lab's 0.5 s heartbeat; the
measured figures come from bench/, not from here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.lab import Lab
from tests.lab_host import Host
from tests.waiting import SLEEPER, wait_for


@pytest.fixture
def service(lab: Lab, request: pytest.FixtureRequest) -> Iterator[str]:
    """A 6-replica service spread over the 3 hosts; removed, and the lab healed, afterwards."""
    name = request.node.name.removeprefix("test_").replace("_", "-")[:40]
    create = lab.shoal(
        "service",
        "create",
        "-d",
        "--name",
        name,
        "--replicas",
        "6",
        "local/busybox:latest",
        *SLEEPER,
    )
    assert create.returncode == 0, create.stderr
    wait_for(lambda: _spread(lab, name) == {"h1": 2, "h2": 2, "h3": 2}, "2 replicas on each host")
    yield name
    _heal(lab)
    lab.shoal("service", "rm", name)
    wait_for(lambda: not any(lab.running(name).values()), f"{name}'s containers to go")


def _heal(lab: Lab) -> None:
    for host in lab.hosts:
        lab.restore(host)
        if host.dockerd is None:
            lab.start_engine(host)
        if host.daemon is None:
            lab.restart_daemon(host)
    wait_for(lambda: lab.ready_nodes() == lab.size, "every node ready again", 30)


def _spread(lab: Lab, service: str) -> dict[str, int]:
    return {host: len(ids) for host, ids in lab.running(service).items()}


def _running_elsewhere(lab: Lab, service: str, lost: Host) -> int | None:
    """How many replicas run on the hosts other than lost, once the manager agrees on 6."""
    tasks = lab.json_lines("service", "ps", service)
    live = [
        t
        for t in tasks
        if t["DesiredState"] == "Running" and str(t["CurrentState"]).startswith("Running")
    ]
    if len(live) != 6 or any(t["Node"] == lost.name for t in live):
        return None
    spread = _spread(lab, service)
    return sum(n for host, n in spread.items() if host != lost.name) or None


def _only_six_remain(lab: Lab, service: str) -> bool:
    spread = _spread(lab, service)
    return sum(spread.values()) == 6 and len(spread) == lab.size


class TestLostNode:
    def test_cut_off_host(self, lab: Lab, service: str) -> None:
        """h3 cut off: its replicas run again on h1 and h2 within 6 s; back, its stale
        containers are gone within 3 s and exactly 6 run."""
        h3 = lab.hosts[2]
        lab.cut(h3)
        wait_for(lambda: _running_elsewhere(lab, service, h3) == 6, "6 replicas on h1 and h2", 6)
        assert lab.nodes()["h3"]["Status"] == "Down"
        lab.restore(h3)
        wait_for(lambda: not lab.running(service)["h3"], "h3's stale containers to go", 3)
        assert sum(_spread(lab, service).values()) == 6

    def test_killed_agent(self, lab: Lab, service: str) -> None:
        """The agent on h3 killed: the same, and its restart (no token) cleans up its host."""
        h3 = lab.hosts[2]
        lab.kill_daemon(h3)
        wait_for(lambda: _running_elsewhere(lab, service, h3) == 6, "6 replicas on h1 and h2", 6)
        lab.start_agent(h3)
        wait_for(lambda: not lab.running(service)["h3"], "h3's stale containers to go", 6)
        assert sum(_spread(lab, service).values()) == 6

    def test_engine_that_stops_answering(self, lab: Lab, service: str) -> None:
        """h3's dockerd killed: the agent reports its node not ready and the tasks move; the
        engine back, the node is ready and runs none of the moved tasks."""
        h3 = lab.hosts[2]
        lab.kill_engine(h3)
        wait_for(lambda: _running_elsewhere(lab, service, h3) == 6, "6 replicas on h1 and h2", 6)
        assert lab.nodes()["h3"]["Status"] == "Down"
        assert "docker engine not answering" in lab.manager.log.read_text()
        lab.start_engine(h3)
        wait_for(lambda: lab.nodes()["h3"]["Status"] == "Ready", "h3 ready again", 10)
        wait_for(lambda: not lab.running(service)["h3"], "h3's stale containers to go", 6)
        assert sum(_spread(lab, service).values()) == 6


class TestContainersAndManager:
    def test_killed_container_is_replaced(self, lab: Lab, service: str) -> None:
        """A container killed on h2 is replaced within 2 s."""
        h2 = lab.hosts[1]
        with h2.engine() as api:
            victim = lab.running(service)["h2"][0]
            api.kill(victim)
        wait_for(
            lambda: (
                sum(_spread(lab, service).values()) == 6
                and victim not in lab.running(service)["h2"]
            ),
            "a replacement",
            2,
        )

    def test_manager_away_changes_nothing_that_runs(self, lab: Lab, service: str) -> None:
        """kill -9 of the manager: every container keeps running, untouched; back, the agents
        reconnect within 3 s and nothing is lost."""
        before = lab.running(service)
        services_before = lab.json_lines("service", "ls")
        lab.kill_daemon(lab.manager)
        agent_log = lab.hosts[1].log
        wait_for(
            lambda: agent_log.read_text().count("manager unreachable") >= 3, "the agents to miss it"
        )
        assert lab.running(service) == before
        lab.start_manager()
        back = time.monotonic()
        wait_for(lambda: lab.ready_nodes() == lab.size, "every agent back", 3)
        assert time.monotonic() - back <= 3
        assert lab.json_lines("service", "ls") == services_before
        assert lab.running(service) == before

    def test_manager_killed_during_a_create(self, lab: Lab) -> None:
        """kill -9 of the manager while 20 replicas start: restarted, the service converges to
        exactly 20, and no container that was running is replaced."""
        create = lab.shoal(
            "service",
            "create",
            "-d",
            "--name",
            "burst",
            "--replicas",
            "20",
            "local/busybox:latest",
            *SLEEPER,
        )
        assert create.returncode == 0, create.stderr
        wait_for(lambda: sum(_spread(lab, "burst").values()) >= 3, "the first containers")
        lab.kill_daemon(lab.manager)
        survivors = {cid for ids in lab.running("burst").values() for cid in ids}
        lab.start_manager()
        wait_for(lambda: sum(_spread(lab, "burst").values()) == 20, "20 replicas", 60)
        now_running = {cid for ids in lab.running("burst").values() for cid in ids}
        assert survivors <= now_running
        assert len(now_running) == 20
        lab.shoal("service", "rm", "burst")
        wait_for(lambda: not any(lab.running("burst").values()), "burst's containers to go", 60)


def test_after_a_manager_start_nodes_get_a_grace(lab: Lab, service: str) -> None:
    """Restarted with h3's agent gone, the manager moves nothing for 6 heartbeat periods; then
    h3 is Down for not reconnecting, and its replicas move. The times are the manager's own, from
    its log: the test's clock would count the time a loaded machine takes to start processes."""
    h3 = lab.hosts[2]
    h3_id = lab.nodes()["h3"]["ID"]
    lab.kill_daemon(h3)
    lab.kill_daemon(lab.manager)
    earlier = len(_log_records(lab.manager))
    lab.start_manager()

    def moved() -> bool:
        tasks = lab.json_lines("service", "ps", service)
        return any(t["Node"] == "h3" and t["DesiredState"] == "Shutdown" for t in tasks)

    wait_for(moved, "h3's replicas to move", 15)
    assert lab.nodes()["h3"]["Status"] == "Down"
    records = _log_records(lab.manager)[earlier:]
    # Logged before the liveness sweep starts, and with it the grace.
    [listening] = [r for r in records if r["event"] == "manager listening"]
    down = [
        r
        for r in records
        if r["event"] == "node state" and r.get("node_id") == h3_id and r["state"] == "DOWN"
    ]
    assert [r["reason"] for r in down] == ["did not reconnect"]
    assert _at(down[0]) - _at(listening) >= timedelta(seconds=6 * 0.5)
    wait_for(lambda: _running_elsewhere(lab, service, h3) == 6, "6 replicas on h1 and h2", 10)


def _log_records(host: Host) -> list[dict[str, Any]]:
    lines = host.log.read_text(errors="replace").splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


def _at(record: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(record["timestamp"])


def test_no_false_alarm_under_load(lab: Lab) -> None:
    """200 tasks on 3 hosts and both cores kept busy for 30 s: no node is marked down and no
    task is restarted."""
    create = lab.shoal(
        "service",
        "create",
        "-d",
        "--name",
        "crowd",
        "--replicas",
        "200",
        "local/busybox:latest",
        *SLEEPER,
    )
    assert create.returncode == 0, create.stderr
    try:
        wait_for(lambda: sum(_spread(lab, "crowd").values()) == 200, "200 running", 180)
        before = {cid for ids in lab.running("crowd").values() for cid in ids}
        down_lines = lab.manager.log.read_text().count('"state": "DOWN"')
        hogs = [
            subprocess.Popen([sys.executable, "-c", HOG, "30"]) for _ in range(os.cpu_count() or 2)
        ]
        try:
            while any(h.poll() is None for h in hogs):
                assert lab.ready_nodes() == lab.size, lab.nodes()
                time.sleep(0.5)
        finally:
            for hog in hogs:
                hog.kill()
                hog.wait()
        assert lab.manager.log.read_text().count('"state": "DOWN"') == down_lines
        tasks = lab.json_lines("service", "ps", "crowd")
        assert len(tasks) == 200
        assert {cid for ids in lab.running("crowd").values() for cid in ids} == before
    finally:
        lab.shoal("service", "rm", "crowd")
        wait_for(lambda: not any(lab.running("crowd").values()), "crowd's containers to go", 180)


# Spins until the deadline given in seconds: a bounded load, gone by itself if forgotten.
HOG = (
    "import sys, time\n"
    "end = time.monotonic() + float(sys.argv[1])\n"
    "while time.monotonic() < end: pass"
)
