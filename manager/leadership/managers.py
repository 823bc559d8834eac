"""The managers as this manager sees them: who leads, who is reachable, where each one's
dispatcher answers. A read-only view for the rest of the manager; the election and the lease
watch are the only writers."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from common.model import ManagerStatus, Reachability
from manager.leadership.keys import Leader


class ManagerSet:
    def __init__(self, self_id: str, self_addr: str) -> None:
        """self_addr: this manager's dispatcher HOST:PORT; the server sets it again once its
        port is bound, before it serves."""
        self.self_id = self_id
        self.self_addr = self_addr
        self._leading = False
        # As etcd last said: the leadership key's holder, and the presence keys.
        self._named: Leader | None = None
        # Whether the key is there at all (its value may be one this release cannot read),
        # the revision it was created at, and the revision the watch has shown up to.
        self._held = False
        self._created = 0
        self._seen = 0
        self._present: dict[str, str] = {}
        self._version = 0
        # Set and replaced at every change: whoever waits holds the one that will be set.
        self._wake = asyncio.Event()

    @classmethod
    def single(cls, self_id: str, self_addr: str) -> ManagerSet:
        """The one manager of a cluster on SQLite: it always leads."""
        managers = cls(self_id, self_addr)
        managers._leading = True
        return managers

    # -- reads --------------------------------------------------------------------------------

    def leads(self) -> bool:
        """Whether this manager leads: known from its own election, not from the watch."""
        return self._leading

    def leader(self) -> Leader | None:
        if self._leading:
            return Leader(self.self_id, self.self_addr)
        named = self._named
        # This manager stepped down but etcd still shows its key (until its lease ends): the
        # leader is not known, and nothing may be sent to itself as if to the leader.
        if named is None or named.node_id == self.self_id:
            return None
        return named

    def reachable(self) -> frozenset[str]:
        """The managers holding a presence lease (this one always, while it runs)."""
        return frozenset(self._present) | {self.self_id}

    def addresses(self) -> list[str]:
        """Every reachable manager's dispatcher HOST:PORT, the leader's first."""
        addrs = {**self._present, self.self_id: self.self_addr}
        leader = self.leader()
        first = [leader.addr] if leader is not None else []
        return first + sorted(a for a in set(addrs.values()) if a not in first)

    def status(self, node_id: str, stored_addr: str) -> ManagerStatus:
        """A manager node's status; stored_addr: the node's address, for one not reachable."""
        leader = self.leader()
        reachable = node_id in self.reachable()
        addr = self.self_addr if node_id == self.self_id else self._present.get(node_id, "")
        return ManagerStatus(
            leader=leader is not None and leader.node_id == node_id,
            reachability=Reachability.REACHABLE if reachable else Reachability.UNREACHABLE,
            addr=addr or stored_addr,
        )

    def deposed(self, created: int) -> bool:
        """Whether etcd shows that the leadership key created at revision created is gone
        (deleted, or another manager's): once the watch has come that far."""
        return self._seen >= created and self._created != created

    def key_held(self) -> bool:
        """Whether etcd showed a leadership key last, whoever holds it."""
        return self._held

    @property
    def version(self) -> int:
        return self._version

    async def changed(self, since: int) -> int:
        """Wait until the view moved past version since; the new version."""
        while self._version == since:
            await self._wake.wait()
        return self._version

    async def leader_gone(self) -> None:
        """Wait until etcd shows no leadership key."""
        while self._held:
            await self._wake.wait()

    # -- writes (the election and the watch) ---------------------------------------------------

    def set_leading(self, leading: bool) -> None:
        if leading != self._leading:
            self._leading = leading
            self._bump()

    def set_named(
        self, leader: Leader | None, *, held: bool, created: int = 0, seen: int = 0
    ) -> None:
        """What etcd showed of the leadership key as of revision seen: whether it is held, by
        whom, since revision created."""
        # A put and a delete of the key in one watch answer leave what it holds as it was, yet
        # a leader created between them is deposed: so seeing further is a change too.
        before = (self._named, self._held, self._created, self._seen)
        self._seen = max(self._seen, seen)
        self._named, self._held, self._created = leader, held, created
        if (leader, held, created, self._seen) != before:
            self._bump()

    def set_present(self, present: Mapping[str, str]) -> None:
        if dict(present) != self._present:
            self._present = dict(present)
            self._bump()

    def _bump(self) -> None:
        self._version += 1
        woken, self._wake = self._wake, asyncio.Event()
        woken.set()
