"""Placement constraints as docker writes them: `node.labels.zone==b`, `node.role!=manager`."""

from __future__ import annotations

from dataclasses import dataclass

from common.errors import InvalidArgument
from common.model import Node

_KEYS = ("node.id", "node.hostname", "node.role")
_LABEL_PREFIX = "node.labels."


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
    """KEY==VALUE or KEY!=VALUE, blanks around each part ignored.

    Read by hand in one pass rather than with a regular expression: a backtracking match on a
    long blank-filled constraint took seconds, on every scheduling pass.
    """
    body = text.strip()
    # A key holds no '=' or '!', so the first operator is the one after the key.
    at = min((i for i in (body.find("=="), body.find("!=")) if i >= 0), default=-1)
    key = body[:at].rstrip() if at >= 0 else ""
    value = body[at + 2 :].strip() if at >= 0 else ""
    if not _is_key(key) or not value:
        raise InvalidArgument(
            f"invalid constraint {text!r}: expected node.id, node.hostname, node.role or"
            " node.labels.KEY, then == or !=, then a value"
        )
    if not value.isprintable():
        raise InvalidArgument(f"invalid constraint {text!r}: the value holds a control character")
    return Constraint(key=key, equal=body[at] == "=", value=value)


def _is_key(key: str) -> bool:
    if key in _KEYS:
        return True
    label = key.removeprefix(_LABEL_PREFIX)
    return label != key and bool(label) and not any(c in "=!" or c.isspace() for c in label)
