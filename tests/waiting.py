"""What the test harnesses (and the benchmarks built on them) share."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

# A container that stops at once on SIGTERM (a plain `sleep` as PID 1 ignores it for 10 s).
SLEEPER = ["sh", "-c", "trap 'exit 0' TERM; sleep 100000 & wait"]


def wait_for(
    check: Callable[[], T | None], what: str, timeout: float = 30.0, interval: float = 0.05
) -> T:
    """Poll check until it returns something truthy; fail naming what never happened."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")


async def eventually(
    check: Callable[[], object | Awaitable[object]],
    what: str,
    within: float = 10.0,
    interval: float = 0.02,
) -> None:
    """wait_for() inside an event loop: poll check (which may have to ask a server, and so be
    a coroutine function) until it is truthy; fail naming what never happened."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        found = check()
        if inspect.isawaitable(found):
            found = await found
        if found:
            return
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out after {within:g} s waiting for {what}")
