"""Puts our netfilter rules back when something else removed them: another tool flushing the
nat table (`iptables -t nat -F`), a firewall reload, a hand-deleted jump. The rules were only
checked at start before, so the mesh and the networks stayed broken until the agent restarted.

Every PERIOD one iptables-save (all tables, one process) is compared with what each part last
wrote (agent/netfilter_drift.py); a part whose rules drifted is told to write them again, as
kube-proxy resyncs on a period. A check that meets a part in the middle of its own write at
worst causes one extra rewrite.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog

from agent.netfilter_drift import Expected, drift
from common.errors import ShoalError

log = structlog.get_logger("netfilter")

# With one period of detection and a write, rules come back within 10 s of their loss.
PERIOD = 5.0


@dataclass(frozen=True)
class Part:
    name: str
    # What the part last wrote and still wants; None while it has nothing in the kernel.
    expected: Callable[[], Expected | None]
    # Write everything again (the part's own loop does it).
    restore: Callable[[], None]


class NetfilterGuard:
    def __init__(self, save: Callable[[], Awaitable[str]], parts: list[Part]) -> None:
        self._save = save
        self._parts = parts
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
        while True:
            await asyncio.sleep(PERIOD)
            try:
                await self.check()
            except ShoalError as exc:
                log.warning("cannot read netfilter rules", error=str(exc))
