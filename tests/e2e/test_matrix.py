"""Features as users combine them, not one at a time (issue 22): a published port in ingress or
host mode, on no cluster network, one or two, found by a virtual IP or by DNS round robin,
replicated with 1 or 3 replicas or global.

The nine cases cover every pair of those choices (a pairwise design: each value of one meets each
value of every other in some case), and all are deployed at once, one service each. In each case
the published port answers where it should with every replica, the names resolve where they
should (and only there), and every replica is reached through them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial

import pytest

from tests.e2e.probes import HTTPD, IMAGE, hits_from, lookup, replicas, url, wget_loop
from tests.http_probe import FAILED, fetch, hits
from tests.lab import Lab
from tests.lab_host import Host
from tests.waiting import SLEEPER, wait_for

NETWORKS = ("mx-a", "mx-b")
# A client on each network, on every host.
CLIENTS = {"mx-a": "mx-client-a", "mx-b": "mx-client-b"}
REQUESTS = 30


@dataclass(frozen=True)
class Case:
    name: str
    port: int
    host_mode: bool
    networks: tuple[str, ...]
    dnsrr: bool
    mode: str  # "1", "3" (replicas) or "global"

    @property
    def flags(self) -> list[str]:
        publish = (
            f"published={self.port},target=80,mode=host" if self.host_mode else f"{self.port}:80"
        )
        flags = ["--name", self.name, "-p", publish]
        for network in self.networks:
            flags += ["--network", network]
        if self.dnsrr:
            flags += ["--endpoint-mode", "dnsrr"]
        if self.mode == "global":
            return [*flags, "--mode", "global"]
        return [*flags, "--replicas", self.mode]

    @property
    def count(self) -> int:
        return 3 if self.mode == "global" else int(self.mode)


def _case(i: int, publish: str, networks: int, endpoint: str, mode: str) -> Case:
    return Case(
        name=f"mx{i}-{publish}-n{networks}-{endpoint}-{'g' if mode == 'global' else 'r' + mode}",
        port=8200 + i,
        host_mode=publish == "host",
        networks=NETWORKS[:networks],
        dnsrr=endpoint == "dnsrr",
        mode=mode,
    )


CASES = [
    _case(1, "ingress", 0, "vip", "1"),
    _case(2, "host", 0, "dnsrr", "3"),
    _case(3, "ingress", 0, "dnsrr", "global"),
    _case(4, "host", 1, "vip", "1"),
    _case(5, "ingress", 1, "dnsrr", "3"),
    _case(6, "host", 1, "vip", "global"),
    _case(7, "ingress", 2, "dnsrr", "1"),
    _case(8, "host", 2, "vip", "3"),
    _case(9, "ingress", 2, "vip", "global"),
]


def shoal_ok(lab: Lab, *args: str) -> None:
    done = lab.shoal(*args)
    assert done.returncode == 0, f"shoal {' '.join(args)}: {done.stderr}"


@pytest.fixture(scope="module")
def deployed(lab: Lab) -> Iterator[None]:
    for network in NETWORKS:
        shoal_ok(lab, "network", "create", network)
    services = [*CLIENTS.values(), *(case.name for case in CASES)]
    try:
        for network, client in CLIENTS.items():
            flags = ["--name", client, "--mode", "global", "--network", network]
            shoal_ok(lab, "service", "create", "-d", *flags, IMAGE, *SLEEPER)
        for case in CASES:
            shoal_ok(lab, "service", "create", "-d", *case.flags, IMAGE, *HTTPD)
        for case in CASES:
            wait_for(partial(_running, lab, case.name, case.count), f"{case.name} running", 90)
        for client in CLIENTS.values():
            wait_for(partial(_running, lab, client, 3), f"{client} on every host", 30)
        yield
    finally:
        for service in services:
            lab.shoal("service", "rm", service)
        for network in NETWORKS:
            wait_for(partial(_removed, lab, network), f"{network} removed", 60)


def _running(lab: Lab, service: str, count: int) -> bool:
    return sum(len(ids) for ids in lab.running(service).values()) == count


def _removed(lab: Lab, network: str) -> bool:
    return lab.shoal("network", "rm", network).returncode == 0


def _balanced(host: Host, port: int, expected: set[str]) -> bool:
    return set(hits(url(host, port), REQUESTS)) == expected


def _answers_with(host: Host, port: int, body: str) -> bool:
    return fetch(url(host, port)) == body


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_published_port(lab: Lab, deployed: None, case: Case) -> None:
    """Ingress: every host answers, from outside and from inside its own namespace, and
    balances over every replica. Host mode: a host answers with its own task, and only a host
    that runs one."""
    running = lab.running(case.name)
    expected = replicas(lab, case.name)
    assert len(expected) == case.count
    for host in lab.hosts:
        if case.host_mode:
            ids = running.get(host.name, [])
            assert len(ids) <= 1
            body = ids[0][:12] if ids else FAILED
            wait_for(partial(_answers_with, host, case.port, body), f"{host.name}:{case.port}", 15)
            continue
        wait_for(partial(_balanced, host, case.port, expected), f"{host.name}:{case.port}", 15)
        inside = hits_from(host, url(host, case.port), REQUESTS)
        assert set(inside) == expected, f"{host.name} from inside: {inside}"


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_names(lab: Lab, deployed: None, case: Case) -> None:
    """From a container on each of the service's networks, on another host than some replicas:
    NAME gives the virtual IP (one address, no task's) or, with dnsrr, the task addresses;
    tasks.NAME gives the task addresses; every replica answers through them. From a network the
    service is not on, neither name resolves."""
    expected = replicas(lab, case.name)
    h1 = lab.hosts[0]
    for network, client in CLIENTS.items():
        if network not in case.networks:
            assert lookup(h1, client, case.name) is None, f"{case.name} resolved on {network}"
            assert lookup(h1, client, f"tasks.{case.name}") is None
            continue
        tasks = wait_for(partial(_all_tasks, h1, client, case), f"tasks.{case.name}", 15)
        by_address = {address: wget_loop(h1, client, f"http://{address}/", 1) for address in tasks}
        assert {answer for [answer] in by_address.values()} == expected, by_address
        named = lookup(h1, client, case.name)
        if case.dnsrr:
            assert named == tasks
            continue
        assert named is not None
        [vip] = named
        assert vip not in tasks
        answers = wget_loop(h1, client, f"http://{case.name}/", REQUESTS)
        assert set(answers) == expected, answers


def _all_tasks(host: Host, client: str, case: Case) -> list[str] | None:
    found = lookup(host, client, f"tasks.{case.name}")
    return found if found is not None and len(found) == case.count else None
