"""Telling our rules apart from what the kernel holds after another tool changed it."""

from __future__ import annotations

import pytest

from agent.mesh.fake import FakeTables
from agent.mesh.rules import INGRESS_CHAIN, JUMPS, render
from agent.netfilter_drift import JumpTo, drift, expected
from common.mesh_view import IngressBackend, IngressPort
from common.model import PortProtocol

NODE = "n1"
PORT = IngressPort(
    service_id="s1",
    published=8080,
    protocol=PortProtocol.TCP,
    backends=(
        IngressBackend("t1", NODE, "10.0.0.1", 0, "172.17.0.2", 80),
        IngressBackend("t2", "n2", "10.0.0.2", 30001, "", 80),
    ),
)
MESH_JUMPS = [JumpTo(j.table, j.chain, j.rule[-1]) for j in JUMPS]


async def written() -> tuple[FakeTables, str]:
    tables = FakeTables()
    await tables.ensure_jumps()
    payload = render([PORT], NODE)
    await tables.restore(payload)
    return tables, payload


async def test_what_was_written_has_not_drifted() -> None:
    tables, payload = await written()
    assert drift(expected(payload, MESH_JUMPS), await tables.save()) is None


async def test_rules_in_the_kernels_own_form_count_as_the_same() -> None:
    """iptables-save prints rules in a normal form of its own: the text differs, the count
    does not."""
    tables, payload = await written()
    saved = (await tables.save()).replace(
        "--probability 0.5000000000", "--probability 0.50000000000"
    )
    assert saved != await tables.save()
    assert drift(expected(payload, MESH_JUMPS), saved) is None


async def test_a_flushed_table() -> None:
    tables, payload = await written()
    tables.flush("nat")
    why = drift(expected(payload, MESH_JUMPS), await tables.save())
    assert why is not None
    assert "holds 0 rules" in why


async def test_a_lost_jump() -> None:
    tables, payload = await written()
    tables.tables["nat"]["PREROUTING"].clear()
    assert drift(expected(payload, MESH_JUMPS), await tables.save()) == (
        f"the jump from PREROUTING (nat) to {INGRESS_CHAIN} is gone"
    )


async def test_a_deleted_chain() -> None:
    tables, payload = await written()
    del tables.tables["filter"]["SHOAL-FORWARD"]
    assert drift(expected(payload, MESH_JUMPS), await tables.save()) == (
        "chain SHOAL-FORWARD (filter) is gone"
    )


@pytest.mark.parametrize("extra", ["-A SHOAL-INGRESS -p udp -j ACCEPT", "-A OTHER -j DROP"])
async def test_a_rule_added_to_our_chain_is_drift_and_others_chains_are_not(extra: str) -> None:
    tables, payload = await written()
    saved = (await tables.save()).replace("COMMIT", extra + "\nCOMMIT", 1)
    assert (drift(expected(payload, MESH_JUMPS), saved) is None) == extra.startswith("-A OTHER")
