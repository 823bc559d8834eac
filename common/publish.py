"""Published ports as users write them (`-p 8080:80/udp`, `published=8080,target=80,mode=host`)
and as docker prints them (`*:8080->80/tcp`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from common.errors import InvalidArgument
from common.model import PortBinding, PortConfig, PortProtocol, PublishMode

MAX_PORT = 65535

_PROTOCOLS = {p.name.lower(): p for p in PortProtocol}
_MODES = {m.name.lower(): m for m in PublishMode}


def parse(text: str) -> PortConfig:
    """`[PUBLISHED:]TARGET[/PROTOCOL]` or docker's long form `published=P,target=T,protocol=tcp|udp,
    mode=ingress|host` (any order; target required)."""
    if "=" in text:
        return _parse_long(text)
    ports, _, protocol = text.partition("/")
    published, sep, target = ports.rpartition(":")
    if ":" in published:
        raise InvalidArgument(
            f"invalid port {text!r}: an address to bind is not supported, only PUBLISHED:TARGET"
        )
    return PortConfig(
        target=_port(target, text),
        published=_port(published, text) if sep else 0,
        protocol=_protocol(protocol, text) if protocol else PortProtocol.TCP,
    )


def _parse_long(text: str) -> PortConfig:
    fields: dict[str, str] = {}
    for item in text.split(","):
        key, sep, value = item.partition("=")
        key = key.strip().lower()
        if not sep or key not in ("published", "target", "protocol", "mode"):
            raise InvalidArgument(
                f"invalid port {text!r}: expected published=P,target=T,protocol=tcp|udp,"
                "mode=ingress|host"
            )
        fields[key] = value.strip()
    if "target" not in fields:
        raise InvalidArgument(f"invalid port {text!r}: target is required")
    mode = fields.get("mode", "ingress").lower()
    if mode not in _MODES:
        raise InvalidArgument(f"invalid port {text!r}: mode must be ingress or host")
    published = fields.get("published", "")
    return PortConfig(
        target=_port(fields["target"], text),
        published=_port(published, text) if published else 0,
        protocol=_protocol(fields.get("protocol", "tcp"), text),
        mode=_MODES[mode],
    )


def _port(value: str, text: str) -> int:
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= MAX_PORT:
        raise InvalidArgument(f"invalid port {text!r}: {value!r} is not a port (1-{MAX_PORT})")
    return int(value)


def _protocol(value: str, text: str) -> PortProtocol:
    found = _PROTOCOLS.get(value.lower())
    if found is None:
        raise InvalidArgument(f"invalid port {text!r}: protocol must be tcp or udp")
    return found


@dataclass(frozen=True)
class Removal:
    """What `--publish-rm` names: ports by target, narrowed by a published port (0: any) and a
    protocol (None: any)."""

    target: int
    published: int = 0
    protocol: PortProtocol | None = None


def parse_removal(text: str) -> Removal:
    """Docker's `--publish-rm`: `TARGET[/PROTOCOL]`, or a value as -p takes it."""
    if "=" in text or ":" in text:
        port = parse(text)
        return Removal(port.target, port.published, port.protocol)
    number, _, protocol = text.partition("/")
    return Removal(_port(number, text), 0, _protocol(protocol, text) if protocol else None)


def removes(port: PortConfig, removal: Removal) -> bool:
    return (
        port.target == removal.target
        and removal.published in (0, port.published)
        and removal.protocol in (None, port.protocol)
    )


def protocol_name(protocol: PortProtocol) -> str:
    return protocol.name.lower()


def mode_name(mode: PublishMode) -> str:
    return mode.name.lower()


def describe(port: PortConfig) -> str:
    """`*:8080->80/tcp`, as `docker service ls` prints a published port."""
    published = str(port.published) if port.published else ""
    return f"*:{published}->{port.target}/{protocol_name(port.protocol)}"


def describe_binding(binding: PortBinding) -> str:
    return f"*:{binding.host_port}->{binding.target}/{protocol_name(binding.protocol)}"


def task_ports(ports: Iterable[PortConfig]) -> tuple[PortConfig, ...]:
    """What each task's container publishes on its node, from a service's ports.

    A host port is bound as asked. An ingress port needs the target published on some port of
    the node, which the engine picks: the mesh reaches tasks on other nodes through it. Which
    port the cluster publishes does not concern the container, so a change to it replaces no task.
    """
    result: dict[tuple[int, PortProtocol, PublishMode, int], PortConfig] = {}
    for p in ports:
        published = p.published if p.mode is PublishMode.HOST else 0
        key = (p.target, p.protocol, p.mode, published)
        result.setdefault(key, PortConfig(p.target, published, p.protocol, p.mode))
    return tuple(sorted(result.values(), key=lambda p: (p.mode, p.target, p.protocol, p.published)))


def validate(ports: Iterable[PortConfig]) -> None:
    """One service may not publish one port twice."""
    seen: set[tuple[int, PortProtocol]] = set()
    for p in ports:
        if not 1 <= p.target <= MAX_PORT or not 0 <= p.published <= MAX_PORT:
            raise InvalidArgument(f"invalid port {describe(p)}: ports are 1-{MAX_PORT}")
        if not p.published:
            continue
        key = (p.published, p.protocol)
        if key in seen:
            raise InvalidArgument(f"port {p.published}/{protocol_name(p.protocol)} published twice")
        seen.add(key)
