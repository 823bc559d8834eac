"""Cluster networks across the lab's hosts: by address, by name, balanced, isolated, cleaned up.

`api` (3 busybox httpd replicas, each serving its container's hostname) runs on h2 and h3, the
clients on h1, so every request crosses hosts through the VXLAN tunnels.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from functools import partial

import pytest

from tests.e2e.probes import IMAGE, exec_in, lookup, wget_loop
from tests.lab import Lab
from tests.lab_host import Host
from tests.waiting import SLEEPER, wait_for

HTTPD = "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www"
SERVICES = ("api", "rr", "client", "outsider")


def container_addresses(lab: Lab, service: str) -> dict[str, str]:
    """hostname -> address on its cluster network, for each running container of service."""
    found = {}
    for host in lab.hosts:
        with host.engine() as api:
            for c in api.containers(filters={"label": f"shoal.service.name={service}"}):
                attrs = api.inspect_container(c["Id"])
                networks = attrs["NetworkSettings"]["Networks"]
                found[attrs["Config"]["Hostname"]] = next(iter(networks.values()))["IPAddress"]
    return found


def shoal_ok(lab: Lab, *args: str) -> str:
    done = lab.shoal(*args)
    assert done.returncode == 0, f"shoal {' '.join(args)}: {done.stderr}"
    return done.stdout


def create(lab: Lab, name: str, *args: str) -> None:
    shoal_ok(lab, "service", "create", "-d", "--name", name, *args)


def running(lab: Lab, service: str, count: int) -> bool:
    return sum(len(ids) for ids in lab.running(service).values()) == count


def leftovers(host: Host) -> list[str]:
    """What of the cluster networks is still on host: links, engine networks, chains."""
    inside = host.inside
    links = subprocess.run(
        inside("ip", "-o", "link", "show"), capture_output=True, text=True, check=True, timeout=20
    ).stdout
    found = [ln.split(":")[1].strip() for ln in links.splitlines() if re.search(r"sh[bv]-", ln)]
    rules = subprocess.run(
        inside("iptables-save"), capture_output=True, text=True, check=True, timeout=20
    ).stdout
    found += [ln for ln in rules.splitlines() if "SHOAL-NET" in ln]
    with host.engine() as api:
        found += [n["Name"] for n in api.networks(filters={"label": "shoal.network.id"})]
    return found


@pytest.fixture(scope="module")
def frontend(lab: Lab) -> Iterator[str]:
    """api on h2 and h3, a client on frontend and one on backend on h1."""
    shoal_ok(lab, "network", "create", "frontend")
    shoal_ok(lab, "network", "create", "--subnet", "10.140.0.0/16", "backend")
    create(
        lab, "api", "--network", "frontend", "--replicas", "3",
        "--constraint", "node.hostname!=h1", IMAGE, "sh", "-c", HTTPD,
    )  # fmt: skip
    create(
        lab, "rr", "--network", "frontend", "--endpoint-mode", "dnsrr", "--replicas", "2",
        IMAGE, "sh", "-c", HTTPD,
    )  # fmt: skip
    for name, network in (("client", "frontend"), ("outsider", "backend")):
        create(
            lab, name, "--network", network, "--constraint", "node.hostname==h1", IMAGE, *SLEEPER
        )
    wait_for(lambda: running(lab, "api", 3) and running(lab, "client", 1), "api and client", 60)
    wait_for(lambda: running(lab, "outsider", 1) and running(lab, "rr", 2), "outsider, rr", 30)
    try:
        yield "frontend"
    finally:
        for service in SERVICES:
            lab.shoal("service", "rm", service)


def test_reach_by_address_and_name(lab: Lab, frontend: str) -> None:
    """By a task's address on another host, by the service's name through its virtual IP
    (60 requests reach all 3 replicas), and tasks.api lists the 3 task addresses."""
    h1 = lab.hosts[0]
    replicas = container_addresses(lab, "api")
    assert len(replicas) == 3
    for hostname, address in replicas.items():
        wait_for(partial(_serves, h1, address, hostname), f"{hostname} at {address} from h1", 10)
    wait_for(
        lambda: exec_in(h1, "client", "timeout 2 wget -qO- http://api/")[0] == 0, "api by name"
    )
    answers = wget_loop(h1, "client", "http://api/", 60)
    assert len(answers) == 60, answers
    assert "failed" not in answers, answers
    assert set(answers) == set(replicas)

    assert lookup(h1, "client", "tasks.api") == sorted(replicas.values())
    [vip] = lookup(h1, "client", "api") or [""]
    assert vip
    assert vip not in replicas.values()


def test_dnsrr_name_gives_the_task_addresses(lab: Lab, frontend: str) -> None:
    tasks = sorted(container_addresses(lab, "rr").values())
    h1 = lab.hosts[0]
    assert lookup(h1, "client", "rr") == tasks
    assert lookup(h1, "client", "tasks.rr") == tasks


def _serves(host: Host, address: str, hostname: str) -> bool:
    # busybox-static's wget crashes (exit 139) with -T: `timeout` bounds it instead.
    return exec_in(host, "client", f"timeout 2 wget -qO- http://{address}/") == (0, f"{hostname}\n")


def test_other_network_is_isolated(lab: Lab, frontend: str) -> None:
    """A container on backend only cannot resolve api, nor reach its VIP or its tasks."""
    h1 = lab.hosts[0]
    assert lookup(h1, "outsider", "api") is None
    [vip] = lookup(h1, "client", "api") or [""]
    for address in [vip, *container_addresses(lab, "api").values()]:
        code, out = exec_in(h1, "outsider", f"timeout 2 wget -qO- http://{address}/")
        assert code != 0, f"{address} answered from backend: {out}"


def test_in_use_network_cannot_be_removed(lab: Lab, frontend: str) -> None:
    done = lab.shoal("network", "rm", frontend)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "Error: network frontend is in use by service api, client, rr: remove or update the"
        " service first"
    ]


def test_vip_stays_when_scaled_down(lab: Lab, frontend: str) -> None:
    """Scaled to 1 the name still answers; scaled to 0 it still resolves to the VIP, and a
    connection is refused at once."""
    h1 = lab.hosts[0]
    [vip] = lookup(h1, "client", "api") or [""]
    shoal_ok(lab, "service", "scale", "-d", "api=1")
    wait_for(lambda: running(lab, "api", 1), "1 api replica")
    [only] = container_addresses(lab, "api")
    wait_for(
        lambda: exec_in(h1, "client", "timeout 2 wget -qO- http://api/") == (0, f"{only}\n"),
        "api served by its one replica",
    )
    shoal_ok(lab, "service", "scale", "-d", "api=0")
    wait_for(lambda: running(lab, "api", 0), "no api replica")
    assert lookup(h1, "client", "api") == [vip]
    wait_for(
        lambda: "Connection refused" in exec_in(h1, "client", "nc api 80 </dev/null 2>&1")[1],
        "connections to api refused",
    )
    assert not lookup(h1, "client", "tasks.api")


def test_nothing_left_once_services_go(lab: Lab, frontend: str) -> None:
    """After the services and networks are removed, no bridge, VXLAN device, engine network or
    rule of theirs remains on any host."""
    for service in SERVICES:
        shoal_ok(lab, "service", "rm", service)
    for name in ("frontend", "backend"):
        wait_for(partial(_removed, lab, name), f"{name} removed")
    for host in lab.hosts:
        wait_for(partial(_clean, host), f"{host.name} clean", 30)


def _removed(lab: Lab, network: str) -> bool:
    return lab.shoal("network", "rm", network).returncode == 0


def _clean(host: Host) -> bool:
    return not leftovers(host)


def test_bad_subnets_are_refused(lab: Lab) -> None:
    shoal_ok(lab, "network", "create", "--subnet", "10.150.0.0/16", "first")
    try:
        done = lab.shoal("network", "create", "--subnet", "10.150.128.0/17", "second")
        assert done.returncode == 1
        assert "overlaps 10.150.0.0/16 of network first" in done.stderr
        assert "second" not in lab.shoal("network", "ls").stdout
    finally:
        shoal_ok(lab, "network", "rm", "first")


def test_unknown_network_is_refused(lab: Lab) -> None:
    done = lab.shoal("service", "create", "-d", "--network", "nowhere", IMAGE, *SLEEPER)
    assert done.returncode == 1
    assert done.stderr.strip() == "Error: network nowhere not found"
