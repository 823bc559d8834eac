"""common.publish: published ports as users write them and as docker prints them."""

from __future__ import annotations

import pytest

from common.errors import InvalidArgument
from common.model import PortBinding, PortConfig, PortProtocol, PublishMode
from common.publish import (
    describe,
    describe_binding,
    parse,
    parse_removal,
    removes,
    task_ports,
    validate,
)

TCP, UDP = PortProtocol.TCP, PortProtocol.UDP
INGRESS, HOST = PublishMode.INGRESS, PublishMode.HOST


class TestShortForm:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("8080:80", PortConfig(80, 8080)),
            ("8080:80/tcp", PortConfig(80, 8080)),
            ("5353:53/udp", PortConfig(53, 5353, UDP)),
            ("53/UDP", PortConfig(53, 0, UDP)),
            ("80", PortConfig(80)),
        ],
    )
    def test_parses(self, text: str, expected: PortConfig) -> None:
        """PUBLISHED:TARGET/PROTOCOL, each part but the target optional, ingress by default."""
        assert parse(text) == expected

    @pytest.mark.parametrize(
        ("text", "why"),
        [
            ("0.0.0.0:8080:80", "address to bind"),
            ("8080:80/sctp", "tcp or udp"),
            ("8080:", "not a port"),
            ("x:80", "not a port"),
            ("70000:80", "not a port"),
            ("8080:0", "not a port"),
        ],
    )
    def test_refuses(self, text: str, why: str) -> None:
        """Each malformed value is refused with one line saying what is wrong."""
        with pytest.raises(InvalidArgument, match=why):
            parse(text)


class TestLongForm:
    def test_every_field(self) -> None:
        """docker's CSV form, in any order, with mode host."""
        assert parse("mode=host,protocol=udp,target=53,published=5353") == PortConfig(
            53, 5353, UDP, HOST
        )

    def test_published_left_out(self) -> None:
        assert parse("target=80") == PortConfig(80)

    @pytest.mark.parametrize(
        ("text", "why"),
        [
            ("published=8080", "target is required"),
            ("target=80,mode=vip", "ingress or host"),
            ("target=80,bogus=1", "expected published="),
            ("target=80,protocol=icmp", "tcp or udp"),
        ],
    )
    def test_refuses(self, text: str, why: str) -> None:
        with pytest.raises(InvalidArgument, match=why):
            parse(text)


class TestRemoval:
    def test_by_target_any_protocol(self) -> None:
        """`--publish-rm 80`, as docker's, removes the ports of target 80, tcp and udp alike."""
        removal = parse_removal("80")
        assert removes(PortConfig(80, 8080), removal)
        assert removes(PortConfig(80, 0, UDP), removal)
        assert not removes(PortConfig(8080, 80), removal)

    def test_narrowed_by_protocol_or_published_port(self) -> None:
        """A protocol narrows it; a full -p value names its published port too."""
        assert not removes(PortConfig(80, 8080), parse_removal("80/udp"))
        assert removes(PortConfig(80, 8080), parse_removal("8080:80"))
        assert not removes(PortConfig(80, 8081), parse_removal("8080:80"))


class TestDisplay:
    def test_like_docker_service_ls(self) -> None:
        assert describe(PortConfig(80, 8080)) == "*:8080->80/tcp"
        assert describe(PortConfig(53, 5353, UDP, HOST)) == "*:5353->53/udp"

    def test_binding(self) -> None:
        assert describe_binding(PortBinding(80, 32768)) == "*:32768->80/tcp"


class TestTaskPorts:
    def test_ingress_published_number_is_not_the_containers_concern(self) -> None:
        """Changing which port the cluster publishes replaces no task: tasks publish the target
        on a port the engine picks, and the same target twice only once."""
        assert task_ports([PortConfig(80, 8080)]) == task_ports([PortConfig(80, 9090)])
        assert task_ports([PortConfig(80, 8080), PortConfig(80, 8081)]) == (PortConfig(80),)

    def test_host_ports_are_bound_as_asked(self) -> None:
        assert task_ports([PortConfig(80, 8080, TCP, HOST)]) == (PortConfig(80, 8080, TCP, HOST),)


class TestValidate:
    def test_one_port_published_twice(self) -> None:
        with pytest.raises(InvalidArgument, match="8080/tcp published twice"):
            validate([PortConfig(80, 8080), PortConfig(81, 8080)])

    def test_same_number_over_two_protocols(self) -> None:
        validate([PortConfig(53, 53), PortConfig(53, 53, UDP)])
