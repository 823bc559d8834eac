"""Placement constraints: docker's syntax, matched against a node's own fields."""

from __future__ import annotations

import pytest

from common.constraints import parse
from common.errors import InvalidArgument
from common.model import Node, NodeDescription, NodeRole

NODE = Node(
    id="n1",
    role=NodeRole.MANAGER,
    description=NodeDescription(hostname="h1"),
    labels={"zone": "b", "ssd": "true"},
)


@pytest.mark.parametrize(
    ("text", "matches"),
    [
        ("node.id==n1", True),
        ("node.id!=n1", False),
        ("node.hostname==h1", True),
        ("node.role==manager", True),
        ("node.role == worker", False),
        ("node.labels.zone==b", True),
        ("node.labels.zone!=a", True),
        ("node.labels.missing==x", False),
        ("node.labels.missing!=x", True),
    ],
)
def test_matching(text: str, matches: bool) -> None:
    """Each key reads its node field; a missing label never equals a value."""
    assert parse(text).matches(NODE) is matches


@pytest.mark.parametrize(
    "text", ["zone==b", "node.labels.zone=b", "node.color==red", "node.id==", "", "node.labels==x"]
)
def test_malformed(text: str) -> None:
    """Anything but KEY, == or !=, and a value is refused with the expected form."""
    with pytest.raises(InvalidArgument, match="invalid constraint"):
        parse(text)


def test_round_trip_text() -> None:
    """A parsed constraint prints as the user wrote it, without the spaces."""
    assert str(parse(" node.labels.zone  !=  a ")) == "node.labels.zone!=a"
