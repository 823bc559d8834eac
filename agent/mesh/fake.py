"""Netfilter in memory: applies iptables-restore input the way the kernel does for what the
mesh writes (declared chains are created or flushed, -A appends, -X deletes an unreferenced
chain), so unit tests can read the rules a node would have."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from agent.mesh.rules import JUMPS, is_ours
from common.errors import Unavailable

BUILT_IN = {
    "nat": ("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"),
    "filter": ("INPUT", "FORWARD", "OUTPUT"),
}


@dataclass
class FakeTables:
    tables: dict[str, dict[str, list[str]]] = field(
        default_factory=lambda: {t: {c: [] for c in chains} for t, chains in BUILT_IN.items()}
    )
    payloads: list[str] = field(default_factory=list)
    # While set, every call fails, as a missing iptables binary would.
    broken: bool = False
    # net.ipv4.conf.all.route_localnet, as route_localnet() sets it.
    localnet: bool = False
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    def _answer(self) -> None:
        if self.broken:
            raise Unavailable("cannot run iptables-restore: no such file")

    async def restore(self, payload: str) -> None:
        self._answer()
        self.payloads.append(payload)
        staged = {
            t: {c: list(rules) for c, rules in chains.items()} for t, chains in self.tables.items()
        }
        table: dict[str, list[str]] | None = None
        for line in payload.splitlines():
            if line.startswith("*"):
                table = staged[line[1:]]
            elif line == "COMMIT":
                table = None
            elif table is None:
                raise Unavailable(f"iptables-restore failed: line outside a table: {line}")
            elif line.startswith(":"):
                table[line[1:].split()[0]] = []
            elif line.startswith("-A "):
                chain, _, rule = line[3:].partition(" ")
                self._target_exists(table, rule)
                table.setdefault(chain, []).append(rule)
            elif line.startswith("-X "):
                chain = line[3:]
                if any(r.endswith(f"-j {chain}") for rules in table.values() for r in rules):
                    raise Unavailable(f"iptables-restore failed: chain {chain} is in use")
                table.pop(chain, None)
        self.tables = staged

    @staticmethod
    def _target_exists(table: dict[str, list[str]], rule: str) -> None:
        target = rule.rsplit("-j ", 1)[-1].split()[0]
        if target.startswith("SHOAL-") and target not in table:
            raise Unavailable(f"iptables-restore failed: no chain {target}")

    async def chains(self) -> list[str]:
        self._answer()
        return [c for chains in self.tables.values() for c in chains if is_ours(c)]

    async def route_localnet(self) -> None:
        self._answer()
        self.localnet = True

    async def ensure_jumps(self) -> None:
        self._answer()
        for jump in JUMPS:
            chains = self.tables[jump.table]
            rule = " ".join(jump.rule)
            chains.setdefault(jump.rule[-1], [])
            if rule not in chains[jump.chain]:
                chains[jump.chain].insert(0, rule)

    async def remove_jumps(self) -> None:
        self._answer()
        for jump in JUMPS:
            rules = self.tables[jump.table][jump.chain]
            rules[:] = [r for r in rules if r != " ".join(jump.rule)]

    async def save(self) -> str:
        self._answer()
        lines = []
        for table, chains in self.tables.items():
            lines += [f"*{table}", *(f":{chain} - [0:0]" for chain in chains)]
            lines += [f"-A {chain} {rule}" for chain, rules in chains.items() for rule in rules]
            lines.append("COMMIT")
        return "\n".join(lines) + "\n"

    def flush(self, table: str) -> None:
        """`iptables -t TABLE -F`: every chain of the table emptied, none deleted."""
        for rules in self.tables[table].values():
            rules.clear()
        self._changed.set()

    async def changes(self) -> AsyncIterator[None]:
        """Reports flush(), as the kernel reports any change."""
        while True:
            await self._changed.wait()
            self._changed.clear()
            yield

    def rules(self, table: str, chain: str) -> list[str]:
        return list(self.tables[table].get(chain, []))
