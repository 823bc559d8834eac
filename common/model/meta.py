"""What every stored object carries, and the clock it is stamped with."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime


def now() -> datetime:
    return datetime.now(UTC)


EPOCH = datetime.fromtimestamp(0, UTC)


@dataclass(frozen=True)
class Meta:
    """Store bookkeeping: version 0 means never stored; each write increments it."""

    version: int = 0
    created_at: datetime = EPOCH
    updated_at: datetime = EPOCH
