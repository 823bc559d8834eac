"""What a task's container is made of: image, command, mounts, the secret and config files it
gets, its healthcheck, and the registry credentials its image is pulled with."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import timedelta

from common.model.nodes import Resources


class MountType(enum.IntEnum):
    BIND = 0
    VOLUME = 1
    TMPFS = 2


@dataclass(frozen=True)
class Mount:
    """source: a host path (bind), a volume name (volume; empty: anonymous), nothing (tmpfs)."""

    type: MountType
    target: str
    source: str = ""
    read_only: bool = False


@dataclass(frozen=True)
class FileReference:
    """A secret or config a task's container gets as a file. id empty or version 0 (as a client
    gives it): the manager fills in the object's ID and current version. target: a file name
    under /run/secrets for a secret, an absolute path for a config."""

    name: str
    target: str
    id: str = ""
    version: int = 0
    uid: int = 0
    gid: int = 0
    mode: int = 0o444


DEFAULT_STOP_GRACE = timedelta(seconds=10)


# HealthCheck.test values with a meaning of their own, as docker gives them.
HEALTH_NONE = ("NONE",)


HEALTH_SHELL = "CMD-SHELL"


@dataclass(frozen=True)
class HealthCheck:
    """Docker's health check. test () keeps the image's test, HEALTH_NONE disables any, else
    (HEALTH_SHELL, command). None and 0 leave the engine's defaults."""

    test: tuple[str, ...] = ()
    interval: timedelta | None = None
    timeout: timedelta | None = None
    retries: int = 0
    start_period: timedelta | None = None

    @property
    def disabled(self) -> bool:
        return self.test == HEALTH_NONE


@dataclass(frozen=True)
class ContainerSpec:
    """hostname may hold docker's templates ({{.Task.Slot}} ...); the agent renders them."""

    image: str
    args: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)
    limits: Resources = Resources()
    hostname: str = ""
    # Replaces the image's entrypoint when not empty (docker's ContainerSpec.Command).
    entrypoint: tuple[str, ...] = ()
    user: str = ""
    workdir: str = ""
    mounts: tuple[Mount, ...] = ()
    # None: DEFAULT_STOP_GRACE.
    stop_grace_period: timedelta | None = None
    stop_signal: str = ""
    init: bool = False
    read_only: bool = False
    healthcheck: HealthCheck | None = None
    secrets: tuple[FileReference, ...] = ()
    configs: tuple[FileReference, ...] = ()


@dataclass(frozen=True, repr=False)
class RegistryAuth:
    """A user's credentials for one registry, from docker's client configuration."""

    username: str = ""
    password: str = ""
    server_address: str = ""
    identity_token: str = ""

    def __repr__(self) -> str:
        return f"RegistryAuth(server_address={self.server_address!r}, <credentials redacted>)"
