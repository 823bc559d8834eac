"""`shoal service` with published ports: the flags reach the spec, and ls, ps and inspect show
the ports as docker does. Runs against the fake Control server (tests/unit/cli)."""

from __future__ import annotations

import json
from dataclasses import replace

from common import model as m
from tests.unit.cli.fake_control import FakeControl
from tests.unit.cli.harness import Shoal
from tests.unit.cli.seeded import WEB_ID

TCP, UDP = m.PortProtocol.TCP, m.PortProtocol.UDP
HOST = m.PublishMode.HOST


def created(control: FakeControl, name: str) -> m.Service:
    [found] = [s for s in control.services.values() if s.spec.name == name]
    return found


class TestCreate:
    def test_short_and_long_forms(self, shoal: Shoal, control: FakeControl) -> None:
        result = shoal(
            "service", "create", "-d", "--name", "api", "-p", "8080:80", "--publish", "53/udp",
            "-p", "published=9000,target=90,mode=host", "busybox",
        )  # fmt: skip
        assert result.code == 0
        assert created(control, "api").spec.ports == (
            m.PortConfig(80, 8080),
            m.PortConfig(53, 0, UDP),
            m.PortConfig(90, 9000, TCP, HOST),
        )

    def test_bad_port_is_one_line_and_sends_nothing(
        self, shoal: Shoal, control: FakeControl
    ) -> None:
        result = shoal("service", "create", "-d", "--name", "api", "-p", "8080:80/sctp", "busybox")
        assert result.code == 1
        [line] = result.err.splitlines()
        assert "protocol must be tcp or udp" in line
        assert control.calls == []


class TestUpdate:
    def test_publish_add_and_rm(self, shoal: Shoal, control: FakeControl) -> None:
        """--publish-rm by target port, --publish-add replacing a port published again."""
        web = control.services[WEB_ID]
        control.services[WEB_ID] = replace(
            web, spec=replace(web.spec, ports=(m.PortConfig(80, 8080), m.PortConfig(53, 53, UDP)))
        )
        result = shoal(
            "service", "update", "-d", "--publish-rm", "53", "--publish-add", "8080:81",
            "--publish-add", "443", "web",
        )  # fmt: skip
        assert result.code == 0
        assert control.services[WEB_ID].spec.ports == (m.PortConfig(81, 8080), m.PortConfig(443))


def with_ports(control: FakeControl) -> None:
    web = control.services[WEB_ID]
    control.services[WEB_ID] = replace(
        web,
        spec=replace(web.spec, ports=(m.PortConfig(80, 8080), m.PortConfig(443))),
        endpoint_ports=(m.PortConfig(80, 8080), m.PortConfig(443, 30000)),
    )


class TestShow:
    def test_ls_ports_column(self, shoal: Shoal, control: FakeControl) -> None:
        with_ports(control)
        records = [json.loads(line) for line in shoal("service", "ls", "--format", "json").lines]
        assert records[1]["Ports"] == "*:8080->80/tcp, *:30000->443/tcp"

    def test_inspect_endpoint(self, shoal: Shoal, control: FakeControl) -> None:
        """Spec.EndpointSpec as given, Endpoint.Ports as allocated, in docker's keys."""
        with_ports(control)
        [document] = json.loads(shoal("service", "inspect", "web").out)
        assert document["Spec"]["EndpointSpec"]["Ports"][1] == {
            "Protocol": "tcp",
            "TargetPort": 443,
            "PublishMode": "ingress",
        }
        assert document["Endpoint"]["Ports"][1] == {
            "Protocol": "tcp",
            "TargetPort": 443,
            "PublishedPort": 30000,
            "PublishMode": "ingress",
        }

    def test_inspect_pretty(self, shoal: Shoal, control: FakeControl) -> None:
        with_ports(control)
        lines = shoal("service", "inspect", "--pretty", "web").lines
        start = lines.index("Ports:")
        assert lines[start : start + 5] == [
            "Ports:",
            " PublishedPort = 8080",
            "  Protocol = tcp",
            "  TargetPort = 80",
            "  PublishMode = ingress",
        ]

    def test_ps_shows_host_mode_bindings(self, shoal: Shoal, control: FakeControl) -> None:
        [first, *_] = [t for t in control.tasks if t.service_id == WEB_ID]
        bound = replace(
            first,
            ports=(m.PortConfig(80, 8080, TCP, HOST),),
            status=replace(first.status, ports=(m.PortBinding(80, 8080, TCP, "172.17.0.2"),)),
        )
        control.tasks = [bound if t is first else t for t in control.tasks]
        records = [json.loads(x) for x in shoal("service", "ps", "web", "--format", "json").lines]
        assert [r["Ports"] for r in records if r["ID"] == first.id[:12]] == ["*:8080->80/tcp"]
