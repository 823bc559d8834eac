"""Placement constraints as docker writes them: `node.labels.zone==b`, `node.role!=manager`."""

from __future__ import annotations

import re
from dataclasses import dataclass

from common.errors import InvalidArgument
from common.model import Node

_EXPR = re.compile(r"^\s*(node\.(?:id|hostname|role|labels\.[^=!\s]+))\s*(==|!=)\s*(\S.*?)\s*$")


@dataclass(frozen=True)
class Constraint:
    key: str
    equal: bool
    value: str

    def __str__(self) -> str:
        return f"{self.key}{'==' if self.equal else '!='}{self.value}"

    def matches(self, node: Node) -> bool:
        return (_value_of(node, self.key) == self.value) == self.equal


def _value_of(node: Node, key: str) -> str | None:
    if key == "node.id":
        return node.id
    if key == "node.hostname":
        return node.description.hostname
    if key == "node.role":
        return node.role.name.lower()
    return node.labels.get(key.removeprefix("node.labels."))


def parse(text: str) -> Constraint:
    match = _EXPR.match(text)
    if match is None:
        raise InvalidArgument(
            f"invalid constraint {text!r}: expected node.id, node.hostname, node.role or"
            " node.labels.KEY, then == or !=, then a value"
        )
    key, op, value = match.groups()
    return Constraint(key=key, equal=op == "==", value=value)
