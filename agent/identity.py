"""The node's identity on disk: what lets an agent resume without a token."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from common.errors import InvalidArgument

FILE = "identity.json"


@dataclass(frozen=True)
class Identity:
    node_id: str
    cluster_id: str
    manager: str


def load(state_dir: Path) -> Identity | None:
    path = state_dir / FILE
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
        return Identity(
            node_id=data["node_id"], cluster_id=data["cluster_id"], manager=data["manager"]
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidArgument(f"unreadable node identity in {path}: {exc}") from exc


def save(state_dir: Path, identity: Identity) -> None:
    state_dir.mkdir(parents=True, exist_ok=True)
    state_dir.chmod(0o700)
    tmp = state_dir / (FILE + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(asdict(identity), out)
        out.flush()
        os.fsync(out.fileno())
    tmp.replace(state_dir / FILE)
