"""A locked manager's socket: every Control call refused with the locked message, a wrong key
refused with nothing changed, the right key ending the wait; a stop while locked ends it too."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import pytest

from common import key_files
from common.api import control_pb2 as pb
from common.api.control_pb2_grpc import ControlStub
from common.key_files import Kek
from manager.data_key import DataKey
from manager.locked import socket_path, wait_for_unlock
from tests.waiting import eventually


@pytest.fixture
def sealed(tmp_path: Path) -> Kek:
    DataKey.generate().save(tmp_path)
    kek = Kek.generate()
    key_files.reseal(tmp_path, None, kek)
    key_files.install(tmp_path, None)
    return kek


async def test_only_the_right_key_unlocks(tmp_path: Path, sealed: Kek) -> None:
    stop = asyncio.Event()
    waiting = asyncio.create_task(wait_for_unlock(tmp_path, stop))
    await eventually(socket_path(tmp_path).exists, "the locked socket")
    async with grpc.aio.insecure_channel(f"unix:{socket_path(tmp_path)}") as channel:
        control = ControlStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await control.ListServices(pb.ListServicesRequest())
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert refused.value.details() == "manager is locked: run shoal cluster unlock"

        before = [p.read_bytes() for p in key_files.key_files(tmp_path)]
        wrong = pb.UnlockManagerRequest(unlock_key=Kek.generate().unlock_key)
        with pytest.raises(grpc.aio.AioRpcError) as invalid:
            await control.UnlockManager(wrong)
        assert invalid.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert invalid.value.details() == "invalid unlock key"
        assert not waiting.done()
        assert [p.read_bytes() for p in key_files.key_files(tmp_path)] == before

        await control.UnlockManager(pb.UnlockManagerRequest(unlock_key=sealed.unlock_key))
    assert await asyncio.wait_for(waiting, 10) == sealed
    assert not socket_path(tmp_path).exists()


async def test_a_stop_while_locked_ends_the_wait(tmp_path: Path, sealed: Kek) -> None:
    stop = asyncio.Event()
    waiting = asyncio.create_task(wait_for_unlock(tmp_path, stop))
    await eventually(socket_path(tmp_path).exists, "the locked socket")
    stop.set()
    assert await asyncio.wait_for(waiting, 10) is None
    assert not socket_path(tmp_path).exists()
