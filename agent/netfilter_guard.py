"""Puts our netfilter rules back when something else removed them: another tool flushing the
nat table (`iptables -t nat -F`), a firewall reload, a hand-deleted jump. The rules were only
checked at start before, so the mesh and the networks stayed broken until the agent restarted.

A check compares one iptables-save (all tables, one process) with what each part last wrote
(agent/netfilter_drift.py); a part whose rules drifted is told to write them again, as
kube-proxy resyncs. Checks run when netfilter reports a change (`xtables-monitor --event`,
where the host has it) and every PERIOD in any case. A check that meets a part in the middle
of its own write at worst causes one extra rewrite.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import structlog

from agent.netfilter_drift import Expected, drift
from common.errors import ShoalError

log = structlog.get_logger("netfilter")

# With one period of detection and a write, rules come back within 10 s of their loss even
# where no change is reported.
PERIOD = 5.0
# A change comes in bursts (one per rule of a restore): the check waits for it to end.
SETTLE = 0.2


@dataclass(frozen=True)
class Part:
    name: str
    # What the part last wrote and still wants; None while it has nothing in the kernel.
    expected: Callable[[], Expected | None]
    # Write everything again (the part's own loop does it).
    restore: Callable[[], None]


class NetfilterGuard:
    def __init__(
        self,
        save: Callable[[], Awaitable[str]],
        parts: list[Part],
        changes: Callable[[], AsyncIterator[None]] | None = None,
    ) -> None:
        """changes: yields whenever the kernel's rules change, for as long as it can."""
        self._save = save
        self._parts = parts
        self._changes = changes
        self._changed = asyncio.Event()
        self.restores = 0

    async def check(self) -> None:
        wanted = [(part, part.expected()) for part in self._parts]
        if all(expected is None for _, expected in wanted):
            return  # nothing of ours in the kernel: no process to spawn
        saved = await self._save()
        for part, expected in wanted:
            if expected is None:
                continue
            why = drift(expected, saved)
            if why is not None:
                log.warning(
                    "netfilter rules changed behind our back: restoring", part=part.name, why=why
                )
                self.restores += 1
                part.restore()

    async def run(self) -> None:
        listener = asyncio.create_task(self._listen()) if self._changes is not None else None
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), PERIOD)
                if self._changed.is_set():
                    await asyncio.sleep(SETTLE)
                    self._changed.clear()
                try:
                    await self.check()
                except ShoalError as exc:
                    log.warning("cannot read netfilter rules", error=str(exc))
        finally:
            if listener is not None:
                listener.cancel()

    async def _listen(self) -> None:
        assert self._changes is not None
        try:
            async for _ in self._changes():
                self._changed.set()
        except ShoalError as exc:
            log.info("no netfilter change events: checking every period only", error=str(exc))
