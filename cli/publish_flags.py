"""Published ports: `-p/--publish` on create, `--publish-add/--publish-rm` on update, and how
ls, ps and inspect show them, as docker does."""

from __future__ import annotations

import argparse
from dataclasses import replace

from common import publish
from common.errors import ShoalError
from common.model import PortConfig, PublishMode, Service, ServiceSpec, Task

_HELP = (
    "Publish a port: [PUBLISHED:]TARGET[/tcp|udp] or"
    " published=P,target=T,protocol=tcp|udp,mode=ingress|host"
)


def _port(text: str) -> PortConfig:
    try:
        return publish.parse(text)
    except ShoalError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _removal(text: str) -> publish.Removal:
    try:
        return publish.parse_removal(text)
    except ShoalError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add(parser: argparse.ArgumentParser, *, update: bool) -> None:
    if update:
        parser.add_argument(
            "--publish-add", action="append", type=_port, default=[], metavar="PORT", help=_HELP
        )
        parser.add_argument(
            "--publish-rm",
            action="append",
            type=_removal,
            default=[],
            metavar="PORT",
            help="Remove a published port by its target port: TARGET[/tcp|udp] (or PUB:TARGET)",
        )
    else:
        parser.add_argument(
            "-p", "--publish", action="append", type=_port, default=[], metavar="PORT", help=_HELP
        )


def apply(spec: ServiceSpec, args: argparse.Namespace) -> ServiceSpec:
    if hasattr(args, "publish"):
        return replace(spec, ports=tuple(args.publish))
    kept = [p for p in spec.ports if not any(publish.removes(p, r) for r in args.publish_rm)]
    for port in args.publish_add:
        # Publishing a port again replaces how it was published (docker's --publish-add).
        kept = [p for p in kept if not (port.published and _same_port(p, port))]
        kept.append(port)
    return replace(spec, ports=tuple(kept))


def _same_port(a: PortConfig, b: PortConfig) -> bool:
    return (a.published, a.protocol) == (b.published, b.protocol)


def service_column(service: Service) -> str:
    """`service ls` PORTS: the ingress ports, as published."""
    return ", ".join(
        publish.describe(p) for p in service.endpoint_ports if p.mode is PublishMode.INGRESS
    )


def task_column(task: Task) -> str:
    """`service ps` PORTS: where a task's host-mode ports are bound on its node."""
    host = {(p.target, p.protocol) for p in task.ports if p.mode is PublishMode.HOST}
    return ", ".join(
        publish.describe_binding(b) for b in task.status.ports if (b.target, b.protocol) in host
    )


def _document(port: PortConfig) -> dict[str, object]:
    document: dict[str, object] = {
        "Protocol": publish.protocol_name(port.protocol),
        "TargetPort": port.target,
    }
    if port.published:
        document["PublishedPort"] = port.published
    document["PublishMode"] = publish.mode_name(port.mode)
    return document


def spec_document(spec: ServiceSpec) -> dict[str, object]:
    """TaskTemplate's sibling EndpointSpec in docker's service Spec."""
    if not spec.ports:
        return {}
    return {"EndpointSpec": {"Mode": "vip", "Ports": [_document(p) for p in spec.ports]}}


def endpoint_document(service: Service) -> dict[str, object]:
    """docker's Endpoint: the spec, and the ports as allocated."""
    spec: dict[str, object] = {"Mode": "vip"}
    if service.spec.ports:
        spec["Ports"] = [_document(p) for p in service.spec.ports]
    endpoint: dict[str, object] = {"Spec": spec}
    if service.endpoint_ports:
        endpoint["Ports"] = [_document(p) for p in service.endpoint_ports]
    return endpoint


def pretty(service: Service) -> list[str]:
    """`inspect --pretty`'s Ports section, as docker lays it out."""
    if not service.endpoint_ports:
        return []
    lines = ["Ports:"]
    for p in service.endpoint_ports:
        lines += [
            f" PublishedPort = {p.published}",
            f"  Protocol = {publish.protocol_name(p.protocol)}",
            f"  TargetPort = {p.target}",
            f"  PublishMode = {publish.mode_name(p.mode)}",
        ]
    return lines
