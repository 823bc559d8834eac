"""The routing mesh across three hosts: published ports answer on every host and balance over
every replica, wherever it runs, through the kernel's NAT.

Requests go from the root namespace to each host's address (PREROUTING on that host) and from
inside a host's namespace (its own address through OUTPUT, the others through PREROUTING there).
Each replica is busybox httpd serving its container's hostname, so answers name the replica.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from functools import partial

import pytest

from agent.mesh.rules import FORWARD_CHAIN, INGRESS_CHAIN, SERVICE_PREFIX
from tests.e2e.probes import HTTPD, IMAGE, hits_from, replicas, url
from tests.http_probe import FAILED, fetch, hits
from tests.lab import Lab
from tests.lab_host import Host
from tests.waiting import wait_for

REQUESTS = 60
# How long one request may keep failing while the rules catch up with a replica that died.
RETRY_WINDOW = 1.0


def nat_rules(host: Host) -> list[str]:
    done = subprocess.run(
        host.inside("iptables-save", "-t", "nat"), capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def filter_rules(host: Host) -> list[str]:
    done = subprocess.run(
        host.inside("iptables-save", "-t", "filter"), capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def mesh_is_empty(host: Host) -> bool:
    """No service chain, and nothing in our base chains: the jumps and empty chains stay."""
    rules = nat_rules(host) + filter_rules(host)
    return not any(
        SERVICE_PREFIX in line
        or line.startswith((f"-A {INGRESS_CHAIN} ", f"-A {FORWARD_CHAIN} ", "-A SHOAL-POST"))
        for line in rules
    )


def has_rule(host: Host, text: str) -> bool:
    return any(text in line for line in nat_rules(host))


def only(host: Host, replica: str) -> bool:
    return set(hits(url(host), 10)) == {replica}


def answers_on(host: Host, port: int) -> bool:
    return fetch(url(host, port)) != FAILED


def answers_with(host: Host, port: int, body: str) -> bool:
    return fetch(url(host, port)) == body


def create(lab: Lab, name: str, *flags: str) -> None:
    done = lab.shoal("service", "create", "-d", "--name", name, *flags, IMAGE, *HTTPD)
    assert done.returncode == 0, done.stderr


def spread(lab: Lab, service: str) -> dict[str, int]:
    return {host: len(ids) for host, ids in lab.running(service).items()}


def balanced(lab: Lab, host: Host, expected: set[str]) -> bool:
    return set(hits(url(host), 30)) == expected


def remove(lab: Lab, name: str) -> None:
    """Remove the service, and wait until its containers and every host's rules are gone."""
    lab.shoal("service", "rm", name)
    wait_for(lambda: not any(lab.running(name).values()), f"{name}'s containers to go")
    for host in lab.hosts:
        wait_for(partial(mesh_is_empty, host), f"{host.name}'s mesh rules to go", 10)


@pytest.fixture
def web(lab: Lab) -> Iterator[str]:
    """`-p 8080:80`, 3 replicas, one on each host, answering on every host; removed after."""
    create(lab, "web", "--replicas", "3", "-p", "8080:80")
    try:
        wait_for(lambda: spread(lab, "web") == {"h1": 1, "h2": 1, "h3": 1}, "one per host")
        expected = replicas(lab, "web")
        for host in lab.hosts:
            wait_for(partial(balanced, lab, host, expected), f"{host.name}:8080 to balance", 10)
        yield "web"
    finally:
        for host in lab.hosts:
            lab.restore(host)
            if host.daemon is None:
                lab.restart_daemon(host)
        wait_for(lambda: lab.ready_nodes() == lab.size, "every node ready again")
        remove(lab, "web")


class TestIngress:
    def test_every_host_reaches_every_replica(self, lab: Lab, web: str) -> None:
        """60 requests to each host's 8080 from outside: all answered, by all 3 replicas."""
        expected = replicas(lab, web)
        for host in lab.hosts:
            answers = hits(url(host), REQUESTS)
            assert set(answers) == expected, f"{host.name}: {answers}"

    def test_from_inside_a_host(self, lab: Lab, web: str) -> None:
        """From h2's own namespace: 127.0.0.1 and its own address (OUTPUT) and the other hosts'
        alike."""
        expected = replicas(lab, web)
        h2 = lab.hosts[1]
        for target in ["http://127.0.0.1:8080/", *(url(host) for host in lab.hosts)]:
            answers = hits_from(h2, target, REQUESTS)
            assert set(answers) == expected, f"h2 -> {target}: {answers}"

    def test_rules_come_back_after_the_nat_table_is_flushed(self, lab: Lab, web: str) -> None:
        """`iptables -t nat -F` on h2 empties its mesh chains and drops the jumps into them:
        the agent notices on its own and h2:8080 balances again, within the guard's period."""
        expected = replicas(lab, web)
        h2 = lab.hosts[1]
        # docker's own nat rules go with the flush, and docker only writes them at its start:
        # they are put back from this copy afterwards, for the tests that follow.
        before = subprocess.run(
            h2.inside("iptables-save", "-t", "nat"), capture_output=True, check=True, timeout=30
        ).stdout
        subprocess.run(h2.inside("iptables", "-t", "nat", "-F"), check=True, timeout=30)
        try:
            started = time.monotonic()
            wait_for(
                partial(
                    has_rule, h2, f"-A PREROUTING -m addrtype --dst-type LOCAL -j {INGRESS_CHAIN}"
                ),
                "the jump back",
                15,
            )
            wait_for(partial(balanced, lab, h2, expected), "h2:8080 to balance again", 15)
            print(f"mesh rules restored {time.monotonic() - started:.1f} s after the flush")
        finally:
            subprocess.run(
                h2.inside("iptables-restore", "-T", "nat"), input=before, check=True, timeout=30
            )

    def test_hosts_without_a_replica_answer_after_scaling_down(self, lab: Lab, web: str) -> None:
        """Scaled to 1: every host, two of them running no replica, sends all to the one left."""
        assert lab.shoal("service", "scale", "-d", f"{web}=1").returncode == 0
        wait_for(lambda: sum(spread(lab, web).values()) == 1, "one replica left")
        (left,) = replicas(lab, web)
        for host in lab.hosts:
            wait_for(partial(only, host, left), f"{host.name} to follow", 5)
            assert hits(url(host), REQUESTS) == {left: REQUESTS}

    def test_killed_replica_drops_out_and_its_replacement_comes_in(
        self, lab: Lab, web: str
    ) -> None:
        """A container killed on h2: no request to h1 fails for more than the retry window,
        and once its replacement runs, all three replicas answer again."""
        h1, h2 = lab.hosts[0], lab.hosts[1]
        before = replicas(lab, web)
        (victim,) = lab.running(web)["h2"]
        with h2.engine() as api:
            api.kill(victim)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            started = time.monotonic()
            while fetch(url(h1), timeout=0.5) == FAILED:
                assert time.monotonic() - started < RETRY_WINDOW, "a request failed for 1 s"
            now = replicas(lab, web)
            if len(now) == 3 and now != before:
                break
        expected = replicas(lab, web)
        assert victim[:12] not in expected
        wait_for(lambda: balanced(lab, h1, expected), "the replacement in the rotation", 5)
        answers = hits(url(h1), REQUESTS)
        assert set(answers) == expected

    def test_node_down_drops_its_replica(self, lab: Lab, web: str) -> None:
        """h3 cut off: the other hosts stop sending to it at once, before its task moves."""
        h1, h3 = lab.hosts[0], lab.hosts[2]
        lab.cut(h3)
        wait_for(
            lambda: not any(h3.addr in line for line in nat_rules(h1)), "h1 to drop h3's replica", 5
        )
        answers = hits(url(h1), REQUESTS)
        assert FAILED not in answers

    def test_rm_closes_the_port_everywhere(self, lab: Lab) -> None:
        """After service rm every host refuses 8080 and holds none of the service's rules,
        the agent killed on h3 meanwhile included (it cleans up when it comes back)."""
        create(lab, "gone", "--replicas", "3", "-p", "8090:80")
        h3 = lab.hosts[2]
        try:
            for host in lab.hosts:
                wait_for(partial(answers_on, host, 8090), f"{host.name}:8090", 20)
            lab.kill_daemon(h3)
            assert lab.shoal("service", "rm", "gone").returncode == 0
            for host in lab.hosts[:2]:
                wait_for(partial(mesh_is_empty, host), f"{host.name}'s rules to go", 5)
                assert fetch(url(host, 8090)) == FAILED
            assert not mesh_is_empty(h3)
            lab.start_agent(h3)
            wait_for(partial(mesh_is_empty, h3), "the restarted agent to drop the rules", 10)
            assert fetch(url(h3, 8090)) == FAILED
        finally:
            if h3.daemon is None:
                lab.start_agent(h3)
            wait_for(lambda: lab.ready_nodes() == lab.size, "every node ready again")
            remove(lab, "gone")

    def test_foreign_rules_are_untouched(self, lab: Lab, web: str) -> None:
        """Docker's own chains and jumps are all still there, ours first in each built-in."""
        for host in lab.hosts:
            rules = nat_rules(host)
            assert "-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER" in rules
            assert any(line.startswith("-A POSTROUTING -s 172.17.0.0/16") for line in rules)
            first = next(line for line in rules if line.startswith("-A PREROUTING"))
            assert first.endswith(f"-j {INGRESS_CHAIN}")

    def test_udp_rules(self, lab: Lab) -> None:
        """A UDP port gets its rules on every host (the image has no UDP server to ask)."""
        create(lab, "dns", "--replicas", "1", "-p", "5353:53/udp")
        try:
            for host in lab.hosts:
                wait_for(partial(has_rule, host, "-p udp -m udp --dport 5353"), host.name, 20)
                assert any("-p udp -j DNAT --to-destination" in line for line in nat_rules(host))
        finally:
            remove(lab, "dns")


class TestHostMode:
    def test_reachable_only_where_a_task_runs(self, lab: Lab) -> None:
        """Host-mode 8081 with 2 tasks: each of their hosts answers with its own replica, the
        third refuses; a third task cannot share a host, and says so."""
        create(lab, "direct", "--replicas", "3", "-p", "published=8081,target=80,mode=host")
        try:
            wait_for(lambda: sum(spread(lab, "direct").values()) == 3, "3 tasks running")
            assert set(spread(lab, "direct").values()) == {1}
            assert lab.shoal("service", "scale", "-d", "direct=4").returncode == 0
            wait_for(
                lambda: any(
                    "host port 8081/tcp in use on 3 nodes" in str(t["Error"])
                    for t in lab.json_lines("service", "ps", "--no-trunc", "direct")
                ),
                "the fourth task to say why it waits",
            )
            assert lab.shoal("service", "scale", "-d", "direct=2").returncode == 0
            wait_for(lambda: sum(spread(lab, "direct").values()) == 2, "2 tasks running")
            running = lab.running("direct")
            for host in lab.hosts:
                ids = running[host.name]
                expected = ids[0][:12] if ids else FAILED
                wait_for(partial(answers_with, host, 8081, expected), host.name, 10)
            ports = {t["Ports"] for t in lab.json_lines("service", "ps", "direct") if t["Ports"]}
            assert ports == {"*:8081->80/tcp"}
        finally:
            remove(lab, "direct")
