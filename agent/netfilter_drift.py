"""Whether our netfilter rules are still what we wrote: pure text work on iptables-restore input
(what we wrote) and iptables-save output (what the kernel holds now).

Rules are compared by count per chain, not by text: iptables-save prints a rule in its own
normal form (module order, implied matches), so text differs where the rule does not, while a
flush (`iptables -t nat -F`), a deleted chain or a lost jump all change a count.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

# (table, chain): the rules of one of our chains.
Chain = tuple[str, str]


@dataclass(frozen=True)
class JumpTo:
    """A rule in a built-in chain that enters one of ours."""

    table: str
    parent: str
    target: str


@dataclass(frozen=True)
class Expected:
    rules: dict[Chain, int]
    jumps: tuple[JumpTo, ...]


def _parse(text: str) -> tuple[set[Chain], Counter[Chain], list[tuple[Chain, str]]]:
    """Chains declared, rules per chain and every rule, table by table."""
    declared: set[Chain] = set()
    counts: Counter[Chain] = Counter()
    rules: list[tuple[Chain, str]] = []
    table = ""
    for line in text.splitlines():
        if line.startswith("*"):
            table = line[1:].strip()
        elif line.startswith(":"):
            declared.add((table, line[1:].split()[0]))
        elif line.startswith("-A "):
            chain, _, rule = line[3:].partition(" ")
            counts[(table, chain)] += 1
            rules.append(((table, chain), rule))
        elif line.startswith("-X "):
            declared.discard((table, line[3:].strip()))
    return declared, counts, rules


def expected(written: str, jumps: Iterable[JumpTo]) -> Expected:
    """What the kernel holds after written was applied (with --noflush) and jumps were put in."""
    declared, counts, _ = _parse(written)
    return Expected({chain: counts[chain] for chain in declared}, tuple(jumps))


def drift(wanted: Expected, saved: str) -> str | None:
    """Why saved no longer holds what wanted says, in one line; None while it does."""
    declared, counts, rules = _parse(saved)
    for (table, chain), count in sorted(wanted.rules.items()):
        if (table, chain) not in declared:
            return f"chain {chain} ({table}) is gone"
        if counts[(table, chain)] != count:
            return f"chain {chain} ({table}) holds {counts[(table, chain)]} rules, not {count}"
    for jump in wanted.jumps:
        if not any(
            chain == (jump.table, jump.parent) and rule.split()[-2:] == ["-j", jump.target]
            for chain, rule in rules
        ):
            return f"the jump from {jump.parent} ({jump.table}) to {jump.target} is gone"
    return None
