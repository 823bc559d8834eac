"""The store a manager's state dir belongs to, kept in it (`store-url`): `manager join` writes
the URL it received, and `manager serve` without --store resumes it rather than starting a new
cluster in SQLite beside the one in etcd."""

from __future__ import annotations

from pathlib import Path

from common.errors import InvalidArgument
from common.private_file import write_private
from manager.store.etcd_url import parse_url

FILE = "store-url"


def load(state_dir: Path) -> str | None:
    path = state_dir / FILE
    if not path.exists():
        return None
    url = path.read_text().strip()
    try:
        parse_url(url)
    except ValueError as exc:
        raise InvalidArgument(f"unreadable store URL in {path}: {exc}") from None
    return url


def save(state_dir: Path, url: str) -> None:
    write_private(state_dir / FILE, url.encode())
