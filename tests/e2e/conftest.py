"""One multi-host lab at a time for the test session (see tests/lab.py): most modules share the
3-host lab of workers; a module that needs a lab of another shape takes its place."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar, cast

import pytest

from tests.lab import Lab
from tests.lab_host import BRIDGE, run
from tests.managers_lab import SHAPE, Managers, lab_of_managers, managers_up

T = TypeVar("T")


class LabSlot:
    """The machine holds one lab (its bridge and namespaces have fixed names): taking a lab of
    another shape takes the one up before it down. Each shape is brought up once while it
    holds the slot, so modules of one shape share it."""

    def __init__(self) -> None:
        self._shape = ""
        self._lab: Lab | None = None
        self._value: Any = None

    def take(self, shape: str, lab: Callable[[Path], Lab], up: Callable[[Lab], T]) -> T:
        """lab: the Lab of this shape, on a root given; up: brings it up, returns what tests
        use of it."""
        if self._lab is not None and self._shape == shape:
            return cast(T, self._value)
        self.release()
        # A short root: dockerd's unix sockets live below it, limited to 108 bytes.
        self._lab = lab(Path(tempfile.mkdtemp(prefix="shoal-lab-", dir="/tmp")))
        self._shape = shape
        value = up(self._lab)
        self._value = value
        return value

    def release(self) -> None:
        # Lab.down also ends whatever else runs from the lab's root (etcd members included).
        if self._lab is not None:
            lab, self._lab, self._value = self._lab, None, None
            lab.down()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The modules on the managers' lab run after the others, one after the other, so that the
    lab of each shape comes up once in a run (the slot holds one lab)."""
    items.sort(key=lambda item: "managers" in getattr(item, "fixturenames", ()))


@pytest.fixture(scope="session")
def lab_slot() -> Iterator[LabSlot]:
    if run("ip", "link", "show", BRIDGE, check=False).returncode == 0:
        pytest.fail(f"a lab is already up on this machine (bridge {BRIDGE}): scripts/lab.sh down")
    slot = LabSlot()
    try:
        yield slot
    finally:
        slot.release()


def _workers(lab: Lab) -> Lab:
    lab.up()
    return lab


@pytest.fixture(scope="module")
def lab(lab_slot: LabSlot) -> Lab:
    """h1 a manager on SQLite, h2-h3 agents."""
    return lab_slot.take("workers", lambda root: Lab(root, size=3), _workers)


@pytest.fixture(scope="module")
def managers(lab_slot: LabSlot) -> Managers:
    """Three managers on etcd and two agents (tests/managers_lab.py), shared by the modules
    that use them."""
    return lab_slot.take(SHAPE, lab_of_managers, managers_up)
