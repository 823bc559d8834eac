"""The kernel side: iptables-restore, iptables-save and iptables, run as subprocesses without
blocking the loop. Nothing here touches a chain that is not ours, apart from the one jump rule
per built-in chain that enters ours."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Protocol

from agent.mesh.rules import JUMPS, RETIRED_JUMPS, Jump, our_chains
from common.errors import Unavailable

# Each call is a short local command; this bounds one the kernel or a lock holds up.
TIMEOUT = 10.0


class Tables(Protocol):
    async def restore(self, payload: str) -> None:
        """Apply iptables-restore input, leaving the chains it does not name alone."""
        ...

    async def chains(self) -> list[str]:
        """Our chains that exist now, in any table."""
        ...

    async def ensure_jumps(self) -> None: ...

    async def remove_jumps(self) -> None: ...

    async def save(self) -> str:
        """What iptables-save prints for every table."""
        ...

    async def route_localnet(self) -> None:
        """Let connections to 127.0.0.1 be DNATed off the host (see rules.JUMPS)."""
        ...

    def changes(self) -> AsyncIterator[None]:
        """Yields each time the kernel's IPv4 rules change; Unavailable when it cannot tell."""
        ...


class Netfilter:
    def __init__(self, prefix: Sequence[str] = ()) -> None:
        """prefix: put before each command, e.g. nsenter into another network namespace."""
        self._prefix = tuple(prefix)

    async def _run(self, *argv: str, payload: str | None = None) -> tuple[int, str]:
        try:
            proc = await asyncio.create_subprocess_exec(
                *self._prefix,
                *argv,
                stdin=asyncio.subprocess.PIPE
                if payload is not None
                else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as exc:
            raise Unavailable(f"cannot run {argv[0]}: {exc}") from None
        try:
            out, err = await asyncio.wait_for(
                proc.communicate(payload.encode() if payload is not None else None), TIMEOUT
            )
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise Unavailable(f"{argv[0]} did not finish within {TIMEOUT:.0f} s") from None
        if proc.returncode != 0:
            return proc.returncode or 1, err.decode(errors="replace").strip()
        return 0, out.decode(errors="replace")

    async def restore(self, payload: str) -> None:
        code, text = await self._run("iptables-restore", "--wait", "--noflush", payload=payload)
        if code != 0:
            raise Unavailable(f"iptables-restore failed: {_one_line(text)}")

    async def chains(self) -> list[str]:
        found = []
        for table in ("nat", "filter"):
            code, text = await self._run("iptables-save", "-t", table)
            if code != 0:
                raise Unavailable(f"iptables-save failed: {_one_line(text)}")
            found += our_chains(text)
        return found

    async def save(self) -> str:
        code, text = await self._run("iptables-save")
        if code != 0:
            raise Unavailable(f"iptables-save failed: {_one_line(text)}")
        return text

    async def changes(self) -> AsyncIterator[None]:
        # nf_tables reports every change to whoever listens; iptables-legacy hosts have no
        # such monitor, and the guard's period alone serves them.
        try:
            proc = await asyncio.create_subprocess_exec(
                # Killed with the agent, however the agent ends: an orphaned monitor would wait
                # for events forever, in a namespace that may be gone. Set by setpriv rather
                # than by Python code run between fork and exec, which holds up the forking
                # process: in a manager with 1,000 sessions open, its event loop for a minute.
                "setpriv",
                "--pdeathsig",
                "KILL",
                *self._prefix,
                # Line-buffered: into a pipe it would otherwise hold its events back for 4 KB.
                "stdbuf",
                "-oL",
                "xtables-monitor",
                "--event",
                "--ipv4",
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL,
            )
        except OSError as exc:
            raise Unavailable(
                f"cannot run setpriv stdbuf xtables-monitor: {exc.strerror}"
            ) from None
        assert proc.stdout is not None
        try:
            while await proc.stdout.readline():
                yield
            raise Unavailable(f"xtables-monitor exited ({await proc.wait()})")
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()

    async def route_localnet(self) -> None:
        # Per network namespace; left set when the node leaves, as it may have been before.
        code, text = await self._run("sysctl", "-w", "net.ipv4.conf.all.route_localnet=1")
        if code != 0:
            raise Unavailable(f"sysctl route_localnet failed: {_one_line(text)}")

    async def ensure_jumps(self) -> None:
        """Each jump once, first in its chain: docker's rules never see our ports first."""
        await self._remove(RETIRED_JUMPS)
        for jump in JUMPS:
            if not await self._has(jump.table, jump.chain, jump.rule):
                # The target chain must exist before a rule may name it.
                await self._iptables(jump.table, "-N", jump.rule[-1], tolerate=True)
                await self._iptables(jump.table, "-I", jump.chain, "1", *jump.rule)

    async def remove_jumps(self) -> None:
        await self._remove((*JUMPS, *RETIRED_JUMPS))

    async def _remove(self, jumps: Sequence[Jump]) -> None:
        for jump in jumps:
            # Bounded: a jump added twice by hand goes too, and no more.
            for _ in range(8):
                if not await self._has(jump.table, jump.chain, jump.rule):
                    break
                await self._iptables(jump.table, "-D", jump.chain, *jump.rule)

    async def _has(self, table: str, chain: str, rule: Sequence[str]) -> bool:
        code, _ = await self._run("iptables", "--wait", "-t", table, "-C", chain, *rule)
        return code == 0

    async def _iptables(self, table: str, *args: str, tolerate: bool = False) -> None:
        code, text = await self._run("iptables", "--wait", "-t", table, *args)
        if code != 0 and not tolerate:
            raise Unavailable(f"iptables -t {table} {' '.join(args)} failed: {_one_line(text)}")


def _one_line(text: str) -> str:
    return " ".join(text.split())[:300] or "no output"
