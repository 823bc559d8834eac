"""What the manager refuses in a service spec, before anything is stored."""

from __future__ import annotations

from datetime import timedelta

import pytest

from common.errors import InvalidArgument
from common.model import (
    ContainerSpec,
    Placement,
    Resources,
    RestartPolicy,
    ServiceMode,
    ServiceSpec,
)
from manager.control import validate_spec


def spec(**changes: object) -> ServiceSpec:
    base: dict[str, object] = {"name": "web", "container": ContainerSpec(image="busybox")}
    base.update(changes)
    return ServiceSpec(**base)  # type: ignore[arg-type]


def test_a_plain_spec_passes() -> None:
    """Name, image, replicas and the default restart policy are fine."""
    validate_spec(spec(replicas=3))


def test_a_global_spec_passes() -> None:
    """A global service with constraints and reservations is fine."""
    validate_spec(
        spec(
            mode=ServiceMode.GLOBAL,
            replicas=0,
            placement=Placement(constraints=("node.role==worker",)),
            reservations=Resources(memory_bytes=1 << 20),
        )
    )


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (spec(name="-web"), "invalid service name"),
        (spec(name="a" * 64), "invalid service name"),
        (spec(container=ContainerSpec(image=" ")), "needs an image"),
        (spec(mode=ServiceMode.GLOBAL, replicas=2), "--replicas can only"),
        (
            spec(mode=ServiceMode.GLOBAL, replicas=0, placement=Placement(max_replicas_per_node=1)),
            "--replicas-max-per-node can only",
        ),
        (
            spec(
                mode=ServiceMode.GLOBAL, replicas=0, placement=Placement(spread=("node.labels.a",))
            ),
            "--placement-pref can only",
        ),
        (spec(container=ContainerSpec(image="b", env=("NOEQUALS",))), "KEY=VALUE"),
        (spec(replicas=100_001), "more than 100000"),
        (spec(restart=RestartPolicy(delay=timedelta(days=366))), "restart delay"),
        (spec(restart=RestartPolicy(window=timedelta(days=5_000_000))), "restart window"),
        (spec(restart=RestartPolicy(delay=timedelta(seconds=-1))), "restart delay"),
        (spec(placement=Placement(constraints=("zone==b",))), "invalid constraint"),
        (spec(placement=Placement(spread=("zone",))), "invalid placement preference"),
        (spec(reservations=Resources(memory_bytes=-1)), "memory reservation"),
    ],
)
def test_refused(bad: ServiceSpec, message: str) -> None:
    """Each bad field is refused with a message that names it."""
    with pytest.raises(InvalidArgument, match=message):
        validate_spec(bad)
