"""A full disk under the manager's state dir, for real (a small tmpfs, filled, then freed): a
write answers UNAVAILABLE with a clear line, nothing is stored, the manager keeps serving, and
once there is room again it writes as before, by itself."""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import pytest

from common import convert
from common.api import control_pb2 as pb
from common.model import ContainerSpec, ServiceSpec
from tests.unit.harness import Harness

CHUNK = b"\0" * (64 * 1024)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


@pytest.fixture
async def manager(small_disk: Path) -> AsyncIterator[Harness]:
    h = Harness(small_disk / "manager")
    await h.start()
    try:
        yield h
    finally:
        await h.halt()


def fill(disk: Path) -> Path:
    """Write one file until the disk is full, to its last byte; returns it."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for chunk in (CHUNK, b"\0"):
            with pytest.raises(OSError, match=os.strerror(errno.ENOSPC)):
                _write_forever(fd, chunk)
    finally:
        os.close(fd)
    return filler


def _write_forever(fd: int, chunk: bytes) -> None:
    while True:
        os.write(fd, chunk)


def request(name: str) -> pb.CreateServiceRequest:
    # An environment larger than what SQLite's log may have room for from earlier writes.
    env = ("A=" + "x" * 100_000, "B=" + "x" * 100_000)
    spec = ServiceSpec(
        name=name, replicas=0, container=ContainerSpec(image="local/busybox:latest", env=env)
    )
    return pb.CreateServiceRequest(spec=convert.spec_to_pb(spec))


async def test_a_full_disk_answers_unavailable_and_the_manager_recovers(
    manager: Harness, small_disk: Path
) -> None:
    filler = fill(small_disk)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await manager.control.CreateService(request("web"), timeout=5)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    details = str(caught.value.details())
    assert "could not save the change" in details
    assert "full" in details
    assert "\n" not in details
    listed = await manager.control.ListServices(pb.ListServicesRequest(), timeout=5)
    assert not listed.services
    assert manager.task is not None
    assert not manager.task.done()

    filler.unlink()
    await manager.control.CreateService(request("web"), timeout=5)
    listed = await manager.control.ListServices(pb.ListServicesRequest(), timeout=5)
    assert [s.service.spec.name for s in listed.services] == ["web"]
