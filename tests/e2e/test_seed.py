"""The owner's notes' own command, word for word: `service create --replicas=3 -p 8080:80
--network frontend`. A published port and a cluster network together (issue 22): every host
answers and balances over every replica, its own included, also with one replica left; and a
container on frontend reaches the service by name."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

import pytest

from tests.e2e.probes import HTTPD, IMAGE, hits_from, replicas, url, wget_loop
from tests.http_probe import hits
from tests.lab import Lab
from tests.lab_host import Host
from tests.waiting import SLEEPER, wait_for

REQUESTS = 60


def shoal_ok(lab: Lab, *args: str) -> None:
    done = lab.shoal(*args)
    assert done.returncode == 0, f"shoal {' '.join(args)}: {done.stderr}"


def total(lab: Lab, service: str) -> int:
    return sum(len(ids) for ids in lab.running(service).values())


def balanced(host: Host, expected: set[str]) -> bool:
    return set(hits(url(host), 30)) == expected


@pytest.fixture(scope="module")
def web(lab: Lab) -> Iterator[str]:
    shoal_ok(lab, "network", "create", "frontend")
    try:
        shoal_ok(
            lab, "service", "create", "--name", "web", "--replicas=3", "-p", "8080:80",
            "--network", "frontend", IMAGE, *HTTPD,
        )  # fmt: skip
        shoal_ok(
            lab, "service", "create", "-d", "--name", "visitor", "--network", "frontend",
            "--constraint", "node.hostname==h1", IMAGE, *SLEEPER,
        )  # fmt: skip
        wait_for(lambda: total(lab, "web") == 3 and total(lab, "visitor") == 1, "web and visitor")
        yield "web"
    finally:
        for service in ("web", "visitor"):
            lab.shoal("service", "rm", service)
        wait_for(lambda: lab.shoal("network", "rm", "frontend").returncode == 0, "frontend gone")


def test_every_host_reaches_every_replica(lab: Lab, web: str) -> None:
    """60 requests to each host's 8080 reach all 3 replicas, the host's own one included."""
    expected = replicas(lab, web)
    assert len(expected) == 3
    for host in lab.hosts:
        wait_for(partial(balanced, host, expected), f"{host.name}:8080 to balance", 15)
        answers = hits(url(host), REQUESTS)
        assert set(answers) == expected, f"{host.name}: {answers}"


def test_reached_by_name_from_frontend(lab: Lab, web: str) -> None:
    """A client container on frontend reaches web by its name, every replica of it."""
    expected = replicas(lab, web)
    answers = wget_loop(lab.hosts[0], "visitor", "http://web/", REQUESTS)
    assert set(answers) == expected, answers


def test_one_replica_answers_on_every_host_its_own_included(lab: Lab, web: str) -> None:
    """Scaled to 1, every host answers with it: the replica's own host too, from outside and
    from inside its namespace (the local backend the mesh used to leave out)."""
    shoal_ok(lab, "service", "scale", "web=1")
    wait_for(lambda: total(lab, web) == 1, "one replica left")
    (left,) = replicas(lab, web)
    [home] = [host for host in lab.hosts if lab.running(web).get(host.name)]
    for host in lab.hosts:
        wait_for(partial(balanced, host, {left}), f"{host.name}:8080 to follow", 15)
        assert hits(url(host), REQUESTS) == {left: REQUESTS}, host.name
    assert hits_from(home, url(home), REQUESTS) == {left: REQUESTS}
