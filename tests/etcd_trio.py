"""A 3-member etcd cluster on this machine's loopback, each member on an address of its own in
127.0.0.0/8 (so each has etcd's usual ports): the lab's LabEtcd without namespaces, for
integration tests of what one member's death does to a manager's store."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.lab_etcd import LabEtcd, lab_etcd


@dataclass(frozen=True)
class LoopbackHost:
    index: int
    # 127.X.Y: a network of loopback addresses picked per cluster, so that clusters started by
    # tests running at once do not share ports.
    net: str

    @property
    def name(self) -> str:
        return f"lo{self.index}"

    @property
    def addr(self) -> str:
        return f"{self.net}.{self.index}"

    def inside(self, *argv: str) -> list[str]:
        return list(argv)


@contextmanager
def loopback_etcd(root: Path) -> Iterator[LabEtcd]:
    net = f"127.{random.randint(1, 254)}.{random.randint(1, 254)}"
    with lab_etcd([LoopbackHost(i, net) for i in (1, 2, 3)], root) as cluster:
        yield cluster
