"""The managers' view (who leads, who is reachable) and what the leadership key holds."""

from __future__ import annotations

import asyncio

from common.model import ManagerStatus, Reachability
from manager.leadership import Keys, Leader, ManagerSet
from manager.leadership.keys import decode_leader, encode_leader


class TestKeys:
    def test_layout_under_the_prefix(self) -> None:
        keys = Keys("/shoal")
        assert keys.leader == b"/shoal/leader"
        assert keys.presence("n1") == b"/shoal/managers/n1"
        assert keys.node_of(keys.presence("n1")) == "n1"

    def test_leader_value_round_trips(self) -> None:
        leader = Leader("n1", "10.0.0.5:7462")
        assert decode_leader(encode_leader(leader)) == leader

    def test_an_unreadable_leader_value_names_no_leader(self) -> None:
        """A value another release wrote, or garbage: no leader is known, none is guessed."""
        for value in (b"", b"n1", b"[]", b'{"node_id": "n1"}', b'{"node_id": 1, "addr": "a"}'):
            assert decode_leader(value) is None


class TestManagerSet:
    async def test_a_single_manager_leads_and_is_reachable(self) -> None:
        managers = ManagerSet.single("n1", "10.0.0.5:7462")
        assert managers.leads()
        assert managers.leader() == Leader("n1", "10.0.0.5:7462")
        assert managers.addresses() == ["10.0.0.5:7462"]
        assert managers.status("n1", "10.0.0.5") == ManagerStatus(
            leader=True, reachability=Reachability.REACHABLE, addr="10.0.0.5:7462"
        )

    async def test_a_follower_sees_the_leader_etcd_names_and_lists_it_first(self) -> None:
        managers = ManagerSet("n2", "10.0.0.6:7462")
        managers.set_present({"n1": "10.0.0.5:7462", "n2": "10.0.0.6:7462", "n3": "10.0.0.7:7462"})
        managers.set_named(Leader("n3", "10.0.0.7:7462"), held=True)
        assert not managers.leads()
        assert managers.leader() == Leader("n3", "10.0.0.7:7462")
        assert managers.addresses() == ["10.0.0.7:7462", "10.0.0.5:7462", "10.0.0.6:7462"]
        assert managers.status("n3", "") == ManagerStatus(
            True, Reachability.REACHABLE, "10.0.0.7:7462"
        )
        assert managers.status("n1", "").leader is False

    async def test_a_manager_without_its_presence_lease_is_unreachable(self) -> None:
        managers = ManagerSet("n1", "10.0.0.5:7462")
        managers.set_present({"n1": "10.0.0.5:7462"})
        assert managers.status("n4", "10.0.0.8") == ManagerStatus(
            leader=False, reachability=Reachability.UNREACHABLE, addr="10.0.0.8"
        )
        # This manager counts itself reachable even before etcd shows its own key.
        managers.set_present({})
        assert managers.status("n1", "").reachability is Reachability.REACHABLE

    async def test_a_manager_that_stepped_down_never_names_itself_from_a_stale_key(self) -> None:
        """After a step-down etcd may show this manager's key until its lease ends: the leader
        is then unknown, so nothing is forwarded to itself."""
        managers = ManagerSet("n1", "10.0.0.5:7462")
        managers.set_leading(True)
        managers.set_named(Leader("n1", "10.0.0.5:7462"), held=True)
        managers.set_leading(False)
        assert managers.leader() is None
        assert managers.key_held()

    async def test_waiters_wake_on_a_change_of_leader(self) -> None:
        managers = ManagerSet("n2", "10.0.0.6:7462")
        managers.set_named(Leader("n1", "10.0.0.5:7462"), held=True)
        version = managers.version
        changed = asyncio.create_task(managers.changed(version))
        gone = asyncio.create_task(managers.leader_gone())
        await asyncio.sleep(0)
        assert not changed.done()
        assert not gone.done()
        managers.set_named(None, held=False)
        assert await asyncio.wait_for(changed, 5) > version
        await asyncio.wait_for(gone, 5)
        # Telling the same again is no change.
        version = managers.version
        managers.set_named(None, held=False)
        assert managers.version == version

    async def test_a_key_put_and_deleted_in_one_answer_still_deposes_its_leader(self) -> None:
        """etcd may bring the leader's own put and a delete of the key in one watch answer:
        what the key holds looks unchanged, but a leader waiting to learn it was deposed wakes."""
        managers = ManagerSet("n1", "10.0.0.5:7462")
        managers.set_named(None, held=False, seen=10)
        created = 11
        managers.set_leading(True)
        version = managers.version
        changed = asyncio.create_task(managers.changed(version))
        await asyncio.sleep(0)
        assert not managers.deposed(created)
        managers.set_named(None, held=False, seen=12)
        assert await asyncio.wait_for(changed, 5) > version
        assert managers.deposed(created)
