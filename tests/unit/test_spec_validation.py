"""What the manager refuses in a service spec, before anything is stored."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from common import convert
from common.api import types_pb2 as types_pb
from common.errors import InvalidArgument
from common.model import (
    ContainerSpec,
    HealthCheck,
    Mount,
    MountType,
    Placement,
    Resources,
    RestartPolicy,
    ServiceMode,
    ServiceSpec,
)
from manager.control.validation import spec_from_request, validate_spec


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
        (spec(name="a" * 64), "service name is 64 characters long"),
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
        (spec(aliases=("web", "no spaces")), "invalid network alias name 'no spaces'"),
    ],
)
def test_refused(bad: ServiceSpec, message: str) -> None:
    """Each bad field is refused with a message that names it."""
    with pytest.raises(InvalidArgument, match=message):
        validate_spec(bad)


def container(**changes: object) -> ContainerSpec:
    base: dict[str, object] = {"image": "busybox"}
    base.update(changes)
    return ContainerSpec(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (spec(labels={"k" * 257: "v"}), "label key is 257 characters long"),
        (spec(labels={"k": "v" * 4097}), "label 'k' is 4097 characters long"),
        (spec(labels={"k": "a\0b"}), "label 'k' holds a NUL byte"),
        (spec(container=container(image="i" * 513)), "image is 513"),
        (spec(container=container(image="busybox\0")), "image holds a NUL"),
        (spec(container=container(env=("A=" + "x" * 131_072,))), "environment entry is 131074"),
        (spec(container=container(env=("A=b\0c",))), "environment entry holds a NUL"),
        (spec(container=container(args=("a\0",))), "argument holds a NUL"),
        (spec(container=container(entrypoint=("e" * 131_072,))), "entrypoint argument is"),
        (spec(container=container(labels={"c": "\0"})), "container label 'c' holds"),
        (spec(container=container(hostname="h" * 1025)), "hostname is 1025"),
        (spec(container=container(user="u" * 257)), "user is 257"),
        (spec(container=container(workdir="/" + "w" * 4095)), "workdir is 4096"),
        (spec(container=container(stop_signal="TERM\0")), "stop signal holds"),
        (
            spec(container=container(mounts=(Mount(MountType.TMPFS, "/" * 4096),))),
            "mount target is 4096",
        ),
        (
            spec(container=container(mounts=(Mount(MountType.BIND, "/t", "/s\0"),))),
            "mount source holds",
        ),
        (
            spec(container=container(healthcheck=HealthCheck(test=("CMD", "a\0")))),
            "health check test holds",
        ),
        (spec(placement=Placement(constraints=("node.id==" + " " * 20_000,))), "constraint is"),
        (spec(placement=Placement(constraints=("node.id==a\0",))), "constraint holds a NUL"),
        (spec(placement=Placement(spread=("node.labels." + "k" * 1024,))), "preference is"),
        (spec(networks=("n" * 257,)), "network is 257"),
    ],
)
def test_strings_are_bounded_and_free_of_nul(bad: ServiceSpec, message: str) -> None:
    """Every string of a spec has a length limit and no NUL byte; the refusal names the field
    in one short line, whatever the length of the value."""
    with pytest.raises(InvalidArgument, match=message) as caught:
        validate_spec(bad)
    assert "\n" not in str(caught.value)
    assert len(str(caught.value)) < 200


def test_the_longest_allowed_strings_pass() -> None:
    """The limits leave room for real specs: a 60 KB environment entry, a long path, labels."""
    validate_spec(
        spec(
            labels={"k" * 256: "v" * 4096},
            container=container(
                env=("BLOB=" + "x" * 60_000,),
                workdir="/" + "w" * 4094,
                mounts=(Mount(MountType.TMPFS, "/" + "t" * 4094),),
            ),
        )
    )


def test_spec_size_is_bounded_at_the_api() -> None:
    """A spec past MAX_SPEC_BYTES is refused before it is converted; one under it passes."""
    many = tuple(f"E{i}=" + "x" * 60_000 for i in range(5))
    with pytest.raises(
        InvalidArgument, match=r"the service spec is \d+ bytes: the limit is 262144"
    ):
        spec_from_request(convert.spec_to_pb(spec(container=container(env=many))))
    assert spec_from_request(convert.spec_to_pb(spec(container=container(env=many[:4]))))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("mode", 7, "invalid mode 7: expected one of replicated, global"),
        ("endpoint_mode", 3, "invalid endpoint mode 3"),
    ],
)
def test_unknown_enum_values_are_refused_by_name(field: str, value: int, message: str) -> None:
    """A number an enum does not hold is InvalidArgument naming the field, not a ValueError."""
    msg = convert.spec_to_pb(spec())
    setattr(msg, field, value)
    with pytest.raises(InvalidArgument, match=message):
        spec_from_request(msg)


def test_unknown_nested_enum_values_are_refused_by_name() -> None:
    cases: list[tuple[str, Callable[[types_pb.ServiceSpec], object]]] = [
        ("restart condition 9", lambda m: setattr(m.restart, "condition", 9)),
        ("rollback failure action 5", lambda m: setattr(m.rollback, "failure_action", 5)),
        ("update order 4", lambda m: setattr(m.update, "order", 4)),
        ("port protocol 2", lambda m: m.ports.add(target=80, protocol=2)),
        ("publish mode 8", lambda m: m.ports.add(target=80, mode=8)),
        ("mount type 6", lambda m: m.container.mounts.add(target="/x", type=6)),
    ]
    for message, corrupt in cases:
        msg = convert.spec_to_pb(spec())
        msg.update.monitor.seconds = 5
        msg.rollback.monitor.seconds = 5
        corrupt(msg)
        with pytest.raises(InvalidArgument, match=f"invalid {message}"):
            spec_from_request(msg)


def test_durations_past_what_python_holds_are_refused_by_name() -> None:
    msg = convert.spec_to_pb(spec())
    msg.container.healthcheck.interval.seconds = 2**62
    with pytest.raises(InvalidArgument, match="invalid health check interval"):
        spec_from_request(msg)
