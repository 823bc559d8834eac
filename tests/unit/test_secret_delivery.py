"""Secrets in the manager: sealed in the store, and sent down a node's session only with an
assignment that references them (observed with test clients holding real node certificates)."""

from __future__ import annotations

import os
from pathlib import Path

import grpc
import pytest

from common import convert
from common.api import control_pb2 as cpb
from common.model import ContainerSpec, FileReference, Placement, ServiceSpec
from tests.rogue import Rogue, description
from tests.unit.harness import Harness
from tests.waiting import eventually


def _bytes_under(root: Path, needle: bytes) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


async def _create(h: Harness, name: str, data: bytes, *, config: bool = False) -> str:
    kind = cpb.DATA_KIND_CONFIG if config else cpb.DATA_KIND_SECRET
    request = cpb.CreateDataRequest(kind=kind, name=name, data=data)
    return (await h.control.CreateData(request)).info.id


async def test_a_secret_goes_only_to_the_node_whose_task_references_it(harness: Harness) -> None:
    data = b"pw-" + os.urandom(12).hex().encode()
    await _create(harness, "db", data)
    user, bystander = await Rogue.joined(harness, "user"), await Rogue.joined(harness, "other")
    for node, name in ((user, "user"), (bystander, "other")):
        await node.open(description(name))
    spec = ServiceSpec(
        name="app",
        replicas=2,
        container=ContainerSpec(
            image="local/busybox:latest", secrets=(FileReference(name="db", target=""),)
        ),
        placement=Placement(constraints=("node.hostname==user",)),
    )
    plain = ServiceSpec(
        name="plain",
        replicas=1,
        container=ContainerSpec(image="local/busybox:latest"),
        placement=Placement(constraints=("node.hostname==other",)),
    )
    for s in (spec, plain):
        await harness.control.CreateService(cpb.CreateServiceRequest(spec=convert.spec_to_pb(s)))
    try:
        await eventually(lambda: len(user.tasks) == 2, "the user's two tasks")
        await eventually(lambda: len(bystander.tasks) == 1, "the bystander's own task")
        assert {(f.config, f.version, f.data) for f in user.files} == {(False, 1, data)}
        # The bystander's own assignments came, and with them nothing of the secret.
        assert bystander.files == []
        task = next(iter(user.tasks.values()))
        (ref,) = task.spec.secrets
        assert (ref.name, ref.target, ref.version, ref.mode) == ("db", "db", 1, 0o444)
        # Sealed at rest: the plaintext is nowhere in the manager's state dir.
        assert _bytes_under(harness.state_dir, data) == []
    finally:
        await user.close()
        await bystander.close()


async def test_refusals_store_nothing(harness: Harness) -> None:
    secret = await _create(harness, "db", b"x")
    too_big = cpb.CreateDataRequest(kind=cpb.DATA_KIND_SECRET, name="big", data=b"a" * 600_000)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await harness.control.CreateData(too_big)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "over the limit of 500 KB" in str(refused.value.details())
    # A config may be twice as large.
    big_config = cpb.CreateDataRequest(kind=cpb.DATA_KIND_CONFIG, name="big", data=b"a" * 600_000)
    await harness.control.CreateData(big_config)
    missing = ServiceSpec(
        name="app",
        container=ContainerSpec(
            image="local/busybox:latest", secrets=(FileReference(name="nope", target=""),)
        ),
    )
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await harness.control.CreateService(
            cpb.CreateServiceRequest(spec=convert.spec_to_pb(missing))
        )
    assert refused.value.code() == grpc.StatusCode.NOT_FOUND
    assert refused.value.details() == "secret not found: nope"
    # No replicas: the spec alone makes the secret in use (and no node writes its file).
    used = ServiceSpec(
        name="app",
        replicas=0,
        container=ContainerSpec(
            image="local/busybox:latest", secrets=(FileReference(name="db", target=""),)
        ),
    )
    await harness.control.CreateService(cpb.CreateServiceRequest(spec=convert.spec_to_pb(used)))
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await harness.control.RemoveData(cpb.RemoveDataRequest(ref="db"))
    assert refused.value.code() == grpc.StatusCode.ABORTED
    assert refused.value.details() == "secret 'db' is in use by the following service: app"
    listed = await harness.control.ListData(cpb.ListDataRequest(kind=cpb.DATA_KIND_SECRET))
    assert [i.id for i in listed.items] == [secret]
    services = await harness.control.ListServices(cpb.ListServicesRequest())
    assert [s.service.spec.name for s in services.services] == ["app"]
