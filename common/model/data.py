"""Secrets and configs: their sealed versions in the store, what the client is shown of them,
and the data a node is handed for its tasks."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from common.model.meta import EPOCH, Meta


@dataclass(frozen=True, repr=False)
class SealedVersion:
    """One version of a secret's or config's data, sealed with the cluster data key."""

    version: int
    sealed: bytes
    created_at: datetime = EPOCH

    def __repr__(self) -> str:
        return f"SealedVersion({self.version})"


@dataclass(frozen=True)
class SealedObject:
    """What secrets and configs share: versions still in use, the newest (current) last."""

    id: str
    name: str
    versions: tuple[SealedVersion, ...]
    meta: Meta = Meta()
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def current(self) -> SealedVersion:
        return self.versions[-1]

    def sealed_for(self, version: int) -> SealedVersion | None:
        return next((v for v in self.versions if v.version == version), None)


@dataclass(frozen=True)
class Secret(SealedObject):
    pass


@dataclass(frozen=True)
class Config(SealedObject):
    pass


@dataclass(frozen=True, repr=False)
class DataInfo:
    """A secret or config as a client sees it: data is a config's current data, never a
    secret's."""

    config: bool
    id: str
    name: str
    versions: tuple[int, ...]
    meta: Meta = Meta()
    labels: dict[str, str] = field(default_factory=dict)
    data: bytes = b""

    def __repr__(self) -> str:
        return f"DataInfo({self.name!r}, versions={self.versions})"


@dataclass(frozen=True, repr=False)
class FileData:
    """One version of a secret's or config's data in the clear, as a node receives it."""

    config: bool
    id: str
    version: int
    data: bytes

    def __repr__(self) -> str:
        return f"FileData({self.id!r}, version={self.version})"
