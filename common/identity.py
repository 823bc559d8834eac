"""The node's identity on disk: what lets an agent resume without a token.

identity.json names the node, its cluster, its manager and, when one was given, the node's own
hostname (`--hostname` at join or on a later `agent run`: kept so a restart without the flag keeps
the name that placement constraints match on); beside it ca.pem, cert.pem and key.pem
(key 0600, directory 0700) are the node's credentials, renewed in place.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from common.errors import InvalidArgument
from common.private_file import write_private
from common.tls import Bundle

FILE = "identity.json"


@dataclass(frozen=True)
class Identity:
    node_id: str
    cluster_id: str
    manager: str
    # Empty: the host's own name, read at each start.
    hostname: str = ""


def load(state_dir: Path) -> Identity | None:
    path = state_dir / FILE
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
        return Identity(
            node_id=data["node_id"],
            cluster_id=data["cluster_id"],
            manager=data["manager"],
            # Absent from identities written before the name was kept.
            hostname=str(data.get("hostname", "")),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidArgument(f"unreadable node identity in {path}: {exc}") from None


def save(state_dir: Path, identity: Identity, bundle: Bundle) -> None:
    """Credentials first, identity last: an identity file means the node is complete."""
    bundle.save(state_dir)
    write_private(state_dir / FILE, json.dumps(asdict(identity)).encode())


def rename(state_dir: Path, identity: Identity, hostname: str) -> Identity:
    """The node's name, changed explicitly (`agent run --hostname`), kept for later starts."""
    renamed = replace(identity, hostname=hostname)
    write_private(state_dir / FILE, json.dumps(asdict(renamed)).encode())
    return renamed


def forget(state_dir: Path) -> None:
    """The node left: without these files the directory holds no identity to resume."""
    (state_dir / FILE).unlink(missing_ok=True)
    Bundle.remove(state_dir)
