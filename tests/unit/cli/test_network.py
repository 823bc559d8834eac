"""`shoal network ...` and the network flags of `service create/update`, against the fake
manager of tests/unit/cli."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from common import model as m
from tests.unit.cli.fake_control import FakeControl
from tests.unit.cli.harness import Certificates, Shoal, serving
from tests.unit.cli.seeded import seed


@pytest.fixture
def fake(certificates: Certificates) -> Iterator[FakeControl]:
    control = FakeControl()
    seed(control)
    with serving(control, certificates.server):
        yield control


@pytest.fixture
def shoal(
    fake: FakeControl,
    certificates: Certificates,
    capsys: pytest.CaptureFixture[str],
) -> Shoal:
    return Shoal(capsys, fake.address, certificates.admin)


def test_ls_shows_dockers_columns(shoal: Shoal, fake: FakeControl) -> None:
    created = shoal("network", "create", "frontend")
    assert created.code == 0
    [network_id] = created.lines
    listed = shoal("network", "ls")
    assert listed.lines == [
        "NETWORK ID     NAME       DRIVER    SCOPE",
        f"{network_id[:12]}   frontend   overlay   swarm",
    ]
    assert shoal("network", "ls", "-q").lines == [network_id]


def test_inspect_gives_subnet_and_vxlan_id(shoal: Shoal) -> None:
    shoal("network", "create", "--subnet", "10.9.0.0/16", "frontend")
    [document] = json.loads(shoal("network", "inspect", "frontend").out)
    assert document["IPAM"]["Config"] == [{"Subnet": "10.9.0.0/16"}]
    assert (document["Driver"], document["Scope"]) == ("overlay", "swarm")


def test_rm_unknown_is_one_line(shoal: Shoal) -> None:
    removed = shoal("network", "rm", "nowhere")
    assert removed.code == 1
    assert removed.err.splitlines() == ["Error: network nowhere not found"]


def test_service_create_sends_networks_and_endpoint_mode(shoal: Shoal, fake: FakeControl) -> None:
    done = shoal(
        "service", "create", "-d", "--name", "api", "--network", "front", "--network", "back",
        "--endpoint-mode", "dnsrr", "local/busybox:latest",
    )  # fmt: skip
    assert done.code == 0, done.err
    [service] = [s for s in fake.services.values() if s.spec.name == "api"]
    assert service.spec.networks == ("front", "back")
    assert service.spec.endpoint_mode == m.EndpointMode.DNSRR


def test_service_update_adds_and_removes_networks(shoal: Shoal, fake: FakeControl) -> None:
    front = shoal("network", "create", "front").lines[0]
    shoal("service", "create", "-d", "--name", "api", "--network", front, "local/busybox:latest")
    done = shoal("service", "update", "-d", "--network-rm", "front", "--network-add", "back", "api")
    assert done.code == 0, done.err
    [service] = [s for s in fake.services.values() if s.spec.name == "api"]
    assert service.spec.networks == ("back",)
