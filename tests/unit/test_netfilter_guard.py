"""The guard without change events (iptables-legacy hosts, or a monitor that died): the period
alone brings flushed rules back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from agent import netfilter_guard
from agent.mesh.fake import FakeTables
from agent.mesh.rules import INGRESS_CHAIN
from agent.mesh.sync import MeshSync
from agent.netfilter_guard import NetfilterGuard, Part
from common.errors import Unavailable
from common.mesh_view import IngressBackend, IngressPort
from common.model import PortProtocol
from tests.waiting import eventually

PORT = IngressPort(
    "s1", 8080, PortProtocol.TCP, (IngressBackend("t1", "n2", "10.0.0.2", 30001, "", 80),)
)


async def no_monitor() -> AsyncIterator[None]:
    raise Unavailable("cannot run xtables-monitor: No such file or directory")
    yield  # pragma: no cover - makes this an async generator


def ingress_rules(tables: FakeTables) -> list[str]:
    return tables.rules("nat", INGRESS_CHAIN)


@pytest.mark.parametrize("changes", [None, no_monitor])
async def test_the_period_alone_restores_flushed_rules(
    monkeypatch: pytest.MonkeyPatch, changes: object
) -> None:
    monkeypatch.setattr(netfilter_guard, "PERIOD", 0.05)
    tables = FakeTables()
    mesh = MeshSync("n1", tables)
    guard = NetfilterGuard(
        tables.save,
        [Part("mesh", mesh.expected, mesh.restore)],
        no_monitor if changes is no_monitor else None,
    )
    tasks = [asyncio.create_task(mesh.run()), asyncio.create_task(guard.run())]
    try:
        mesh.apply([PORT], [], full=True)
        await eventually(lambda: len(ingress_rules(tables)) == 1, "the port's rule")
        tables.tables["nat"][INGRESS_CHAIN].clear()  # no change event: a silent loss
        await eventually(lambda: len(ingress_rules(tables)) == 1, "the rule written again")
        assert guard.restores >= 1
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_nothing_written_nothing_read() -> None:
    """Before the first write there is nothing to compare: no iptables-save is run."""
    tables = FakeTables(broken=True)  # any call would raise
    mesh = MeshSync("n1", tables)
    await NetfilterGuard(tables.save, [Part("mesh", mesh.expected, mesh.restore)]).check()
