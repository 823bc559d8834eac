"""A stack as Shoal deploys it: service specs named and labelled for the stack, the networks
they use, and the order their dependencies impose. No protobuf, no compose."""

from __future__ import annotations

from dataclasses import dataclass, field

from common.model import ServiceSpec

NAMESPACE_LABEL = "com.docker.stack.namespace"
"""The label docker puts on every object of a stack, with the stack's name: how `stack ls`,
`services`, `ps` and `rm` find them."""

HEALTHY = "service_healthy"
"""A depends_on condition that waits for the dependency's health check to pass."""


@dataclass(frozen=True)
class StackNetwork:
    """A network as the file names it (key) and as the cluster does (name: STACK_KEY, or the
    name of an external network, which the stack uses as it is and never removes)."""

    key: str
    name: str
    external: bool = False
    subnet: str = ""
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StackFile:
    """A top-level secret (or, with config, config) as the file names it (key) and as the
    cluster does (name: STACK_KEY or the file's `name:`). data: what its `file:` holds, None
    for an external one, which must exist and is used as it is."""

    key: str
    name: str
    config: bool
    # Never in a repr: a secret's data must not reach a log line or a traceback.
    data: bytes | None = field(repr=False)
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def external(self) -> bool:
        return self.data is None

    @property
    def kind(self) -> str:
        return "config" if self.config else "secret"


@dataclass(frozen=True)
class StackService:
    """A service as the file names it (key), its spec (networks by cluster name), and the
    services it depends on, each with its condition."""

    key: str
    spec: ServiceSpec
    depends_on: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Stack:
    name: str
    services: tuple[StackService, ...]
    networks: tuple[StackNetwork, ...]
    # The secrets and configs its services use.
    files: tuple[StackFile, ...] = ()
    # One line per key of the file that Shoal ignores, as docker warns of them.
    warnings: tuple[str, ...] = ()


def scoped(stack: str, key: str) -> str:
    """The cluster name of a stack's own object, as docker names it."""
    return f"{stack}_{key}"
