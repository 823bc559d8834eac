"""manager.store.write_lock: waiters cancelled in the queue, or just as the lock reached them,
leave it to the next one, and an urgent waiter goes ahead of routine ones, a few in a row."""

from __future__ import annotations

import asyncio

import pytest

from manager.store.write_lock import URGENT_RUN, WriteLock


async def taken(lock: WriteLock, order: list[str], name: str, urgent: bool = False) -> None:
    async with lock.hold(urgent):
        order.append(name)
        await asyncio.sleep(0)


async def free(lock: WriteLock) -> bool:
    """Whether the lock is taken at once by a new writer."""
    try:
        async with asyncio.timeout(1):
            async with lock.hold():
                return True
    except TimeoutError:
        return False


async def test_waiters_take_turns_urgent_first() -> None:
    lock = WriteLock()
    order: list[str] = []
    async with lock.hold():
        waiters = [
            asyncio.create_task(taken(lock, order, "routine-1")),
            asyncio.create_task(taken(lock, order, "urgent-1", urgent=True)),
            asyncio.create_task(taken(lock, order, "routine-2")),
            asyncio.create_task(taken(lock, order, "urgent-2", urgent=True)),
        ]
        await asyncio.sleep(0)
        order.append("holder")
    await asyncio.gather(*waiters)
    assert order == ["holder", "urgent-1", "urgent-2", "routine-1", "routine-2"]
    assert await free(lock)


async def test_clients_writing_back_to_back_do_not_starve_the_loops() -> None:
    """Urgent writers always waiting: after URGENT_RUN of them in a row, a routine one goes."""
    lock = WriteLock()
    order: list[str] = []
    async with lock.hold():
        waiters = [asyncio.create_task(taken(lock, order, "routine"))]
        waiters += [
            asyncio.create_task(taken(lock, order, f"urgent-{i}", urgent=True))
            for i in range(URGENT_RUN + 2)
        ]
        await asyncio.sleep(0)
    await asyncio.gather(*waiters)
    urgent = [f"urgent-{i}" for i in range(URGENT_RUN + 2)]
    assert order == [*urgent[:URGENT_RUN], "routine", *urgent[URGENT_RUN:]]
    assert await free(lock)


async def test_a_waiter_cancelled_in_the_queue_is_skipped() -> None:
    lock = WriteLock()
    order: list[str] = []
    async with lock.hold():
        gone = asyncio.create_task(taken(lock, order, "gone"))
        kept = asyncio.create_task(taken(lock, order, "kept"))
        await asyncio.sleep(0)
        gone.cancel()
        await asyncio.sleep(0)
    await kept
    assert gone.cancelled()
    assert order == ["kept"]
    assert await free(lock)


async def test_a_waiter_cancelled_as_the_lock_reaches_it_passes_it_on() -> None:
    lock = WriteLock()
    order: list[str] = []
    async with lock.hold():
        handed = asyncio.create_task(taken(lock, order, "handed"))
        after = asyncio.create_task(taken(lock, order, "after"))
        await asyncio.sleep(0)
    # The release gave the lock to `handed`, which has not run yet: cancel it now.
    handed.cancel()
    with pytest.raises(asyncio.CancelledError):
        await handed
    await asyncio.wait_for(after, 5)  # a lock left with the cancelled waiter never frees
    assert order == ["after"]
    assert await free(lock)
