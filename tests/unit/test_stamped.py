"""common.model.stamped: what every store write does to each object it keeps."""

from __future__ import annotations

import dataclasses
from dataclasses import replace

import pytest

from common.model import Meta, Node, Service, Task, TaskState, TaskStatus, stamped
from manager.store import Event
from manager.store.codec import CODECS
from tests.unit.builders import at, node, service, task

META = Meta(version=7, created_at=at(1), updated_at=at(2))


@pytest.mark.parametrize("obj", [task("t1", 2, node_id="n1"), service(3), node("n1")])
def test_a_stamped_object_equals_replace_and_leaves_the_original_alone(
    obj: Task | Service | Node,
) -> None:
    before = dataclasses.asdict(obj)
    new = stamped(obj, META)
    assert new == replace(obj, meta=META)
    assert type(new) is type(obj)
    assert new is not obj
    assert new.meta == META
    assert dataclasses.asdict(obj) == before


def test_a_stamped_task_is_frozen_and_replace_builds_on_it() -> None:
    new = stamped(task("t1", 1), META)
    with pytest.raises(dataclasses.FrozenInstanceError):
        new.slot = 2  # type: ignore[misc]
    moved = replace(new, status=TaskStatus(state=TaskState.RUNNING))
    assert moved.meta == META
    assert moved.id == "t1"


@pytest.mark.parametrize("kind", list(CODECS), ids=lambda k: k.__name__)
def test_every_stored_kind_keeps_its_fields_where_stamped_copies_them(kind: type) -> None:
    # A kind with slots has no __dict__ to copy, and one with __post_init__ computes what the
    # copy would not: stamped would be wrong for either.
    assert dataclasses.is_dataclass(kind)
    assert "__slots__" not in kind.__dict__
    assert not hasattr(kind, "__post_init__")
    assert kind.__dataclass_params__.frozen  # type: ignore[attr-defined]


def test_a_committed_event_keeps_every_field_but_its_revision() -> None:
    # Each field holds a value of its own: a field added to Event and left out of committed
    # would come back as its default, and fail here.
    given = {f.name: object() for f in dataclasses.fields(Event)}
    done = Event(**given).committed(7)  # type: ignore[arg-type]
    assert done.revision == 7
    for f in dataclasses.fields(Event):
        if f.name != "revision":
            assert getattr(done, f.name) is given[f.name], f.name
