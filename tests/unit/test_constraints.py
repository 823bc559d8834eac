"""Placement constraints: docker's syntax, matched against a node's own fields."""

from __future__ import annotations

import time

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


def test_blank_filled_constraint_is_read_in_linear_time() -> None:
    """20,000 spaces inside a value took a backtracking regex seconds, on every scheduling pass:
    a stored constraint of any length is now read in one pass."""
    started = time.perf_counter()
    constraint = parse("node.id==a" + " " * 20_000 + "b")
    assert time.perf_counter() - started < 0.5
    assert constraint.value == "a" + " " * 20_000 + "b"


@pytest.mark.parametrize("text", ["node.labels.a=b==c", "node.id==a\nb", "node.labels.a b==c"])
def test_odd_keys_and_control_characters_are_refused(text: str) -> None:
    with pytest.raises(InvalidArgument, match="invalid constraint"):
        parse(text)


def test_operator_text_may_follow_in_the_value() -> None:
    """Only the first operator splits: the rest belongs to the value, as before."""
    assert parse("node.labels.eq==a==b").value == "a==b"
