"""Cluster events as docker's /events stream writes them (EventMessage)."""

from __future__ import annotations

from typing import Any


def event_to_json(
    kind: str, action: str, actor_id: str, attributes: dict[str, str], unix_nanos: int
) -> dict[str, Any]:
    return {
        "Type": kind,
        "Action": action,
        "Actor": {"ID": actor_id, "Attributes": attributes},
        "scope": "swarm",
        "time": unix_nanos // 1_000_000_000,
        "timeNano": unix_nanos,
    }
