"""Where the managers' leases live under the store's prefix P, and what their keys hold.

`P/leader` is held by the manager that leads, under its lease; its value names that manager's
node and its dispatcher's HOST:PORT. `P/managers/<node_id>` is each manager's presence, its
dispatcher's HOST:PORT, under its own lease: a manager whose key is there is reachable.
"""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True)
class Leader:
    node_id: str
    addr: str


@dataclass(frozen=True)
class Keys:
    prefix: str

    @property
    def leader(self) -> bytes:
        return f"{self.prefix}/leader".encode()

    @property
    def managers(self) -> bytes:
        return f"{self.prefix}/managers/".encode()

    def presence(self, node_id: str) -> bytes:
        return self.managers + node_id.encode()

    def node_of(self, presence_key: bytes) -> str:
        return presence_key[len(self.managers) :].decode()


def encode_leader(leader: Leader) -> bytes:
    return json.dumps({"node_id": leader.node_id, "addr": leader.addr}).encode()


def decode_leader(value: bytes) -> Leader | None:
    """The leader a key's value names; None for a value this release cannot read (a writer of
    another release): it is then as if no leader were known, and nothing is sent its way."""
    try:
        fields = json.loads(value)
        node_id, addr = fields["node_id"], fields["addr"]
    except (ValueError, TypeError, KeyError):
        return None
    if not isinstance(node_id, str) or not isinstance(addr, str) or not node_id or not addr:
        return None
    return Leader(node_id, addr)
