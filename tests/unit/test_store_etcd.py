"""What only the etcd store does: share its state with other writers through etcd, refuse the
writes of a lost fence, and turn an unreachable etcd into Unavailable."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from pathlib import Path
from unittest.mock import ANY

import pytest

from common.api.etcd import rpc_pb2
from common.errors import Unavailable
from common.model import Meta, Node
from manager.main import build_parser
from manager.store import Action, EtcdStore, Op, Put, ReadView
from manager.store.etcd import Fence
from manager.store.etcd_client import EtcdClient
from manager.store.etcd_url import parse_url
from tests.etcd_member import etcd_member
from tests.integration.cluster import free_port
from tests.unit.builders import node
from tests.waiting import eventually

pytestmark = pytest.mark.etcd


def fresh_node(node_id: str) -> Node:
    return replace(node(node_id), meta=Meta())


@pytest.fixture
def prefix() -> str:
    return f"/test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def pair(etcd_endpoint: str, prefix: str) -> AsyncIterator[tuple[EtcdStore, EtcdStore]]:
    """Two stores on one prefix, as two managers would be."""
    first = await EtcdStore.open([etcd_endpoint], prefix)
    second = await EtcdStore.open([etcd_endpoint], prefix)
    yield first, second
    await first.close()
    await second.close()


class TestSharedState:
    async def test_a_write_by_another_store_reaches_memory_and_watches(
        self, pair: tuple[EtcdStore, EtcdStore]
    ) -> None:
        """Memory is kept warm from etcd: the other store's write is read and watched here,
        with the time it was staged at."""
        first, second = pair
        watch = first.watch()
        [stored] = await second.commit([Put(fresh_node("n1"))])
        async with asyncio.timeout(2):
            [event] = await watch.next_batch()
        watch.close()
        assert (event.action, event.obj, event.old) == (Action.CREATE, stored, None)
        assert event.time == stored.meta.updated_at
        assert event.revision == second.revision
        assert first.get(Node, "n1") == stored

    async def test_read_modify_write_from_two_stores_loses_nothing(
        self, pair: tuple[EtcdStore, EtcdStore]
    ) -> None:
        """Plans of two stores on one object: a plan made on a stale copy is refused by etcd's
        compare and made again on the newer one, so every increment lands."""
        first, second = pair
        await first.commit([Put(fresh_node("n1"))])
        await eventually(lambda: second.get(Node, "n1") is not None, "the node in the second")

        def bump(view: ReadView) -> Sequence[Op]:
            current = view.get(Node, "n1")
            assert current is not None
            return [Put(replace(current, message=str(int(current.message or "0") + 1)))]

        await asyncio.gather(*(s.transact(bump) for s in (first, second) for _ in range(10)))
        await eventually(lambda: first.revision == second.revision, "both stores level")
        for store in (first, second):
            got = store.get(Node, "n1")
            assert got is not None
            assert (got.message, got.meta.version) == ("20", 21)

    async def test_others_keys_in_etcd_do_not_hold_up_a_plan_made_again(
        self, pair: tuple[EtcdStore, EtcdStore], etcd_endpoint: str
    ) -> None:
        """etcd's revision also moves with keys outside the prefix (another store, a leader's
        key): a refused plan waits only for this prefix's newest commit before it runs again."""
        first, second = pair
        elsewhere = await EtcdStore.open([etcd_endpoint], f"{first.prefix}-elsewhere")
        try:
            [n1] = await first.commit([Put(fresh_node("n1"))])
            assert isinstance(n1, Node)
            await eventually(lambda: second.get(Node, "n1") is not None, "the node in the second")
            # The first store's watch holds back (as while a commit of its own is out), so its
            # copy is stale when it plans; meanwhile etcd's revision moves past the second's write.
            first._idle.clear()
            await second.commit([Put(replace(n1, message="1"))])
            for i in range(3):
                await elsewhere.commit([Put(fresh_node(f"x{i}"))])

            def bump(view: ReadView) -> Sequence[Op]:
                current = view.get(Node, "n1")
                assert current is not None
                return [Put(replace(current, message=str(int(current.message or "0") + 1)))]

            async with asyncio.timeout(3):
                [stored] = await first.transact(bump)
            assert (stored.meta.version, getattr(stored, "message", None)) == (3, "2")
        finally:
            await elsewhere.close()


class TestEtcdRestart:
    async def test_the_watch_resumes_from_its_revision(self, tmp_path: Path) -> None:
        """etcd goes away and comes back: what another writer committed meanwhile reaches this
        store's memory and watchers, and its own writes work again."""
        data, port = tmp_path / "etcd", free_port()
        with etcd_member(data, port=port) as endpoint:
            store = await EtcdStore.open([endpoint])
        try:
            watch = store.watch()
            with etcd_member(data, port=port):
                other = await EtcdStore.open([endpoint])
                try:
                    [stored] = await other.commit([Put(fresh_node("n1"))])
                finally:
                    await other.close()
                async with asyncio.timeout(5):
                    [event] = await watch.next_batch()
                assert (event.action, event.obj) == (Action.CREATE, stored)
                assert store.get(Node, "n1") == stored
                await store.commit([Put(fresh_node("n2"))])
                assert store.get(Node, "n2") is not None
        finally:
            await store.close()

    async def test_revisions_compacted_away_meanwhile_are_reloaded(self, tmp_path: Path) -> None:
        """etcd compacted the revisions the watch missed while it was away: the store reloads
        the prefix and tells watchers what changed (here, a node deleted behind its back)."""
        data, port = tmp_path / "etcd", free_port()
        with etcd_member(data, port=port) as endpoint:
            store = await EtcdStore.open([endpoint])
            [n1] = await store.commit([Put(fresh_node("n1"))])
        try:
            watch = store.watch()
            # No await until the compaction: the store's watch cannot come back before it.
            with etcd_member(data, port=port):
                etcdctl(endpoint, "del", "/shoal/objects/node/n1")
                put = json.loads(etcdctl(endpoint, "put", "/shoal/other", "x", "-w", "json"))
                etcdctl(endpoint, "compact", str(put["header"]["revision"]))
                async with asyncio.timeout(5):
                    [event] = await watch.next_batch()
                assert (event.action, event.obj) == (Action.DELETE, n1)
                assert store.get(Node, "n1") is None
                await store.commit([Put(fresh_node("n2"))])
                assert store.get(Node, "n2") is not None
        finally:
            await store.close()


class TestFence:
    async def test_writes_apply_while_the_fence_stands_and_fail_once_it_falls(
        self, etcd_endpoint: str, prefix: str
    ) -> None:
        client = EtcdClient([etcd_endpoint])
        store = await EtcdStore.open([etcd_endpoint], prefix)
        try:
            leader_key = f"{prefix}-leader".encode()
            answer = await client.txn([], [put_op(leader_key, b"me")])
            store.fence = Fence(leader_key, answer.header.revision)
            await store.commit([Put(fresh_node("n1"))])
            # Another manager takes the key over: a new create revision.
            await client.txn([], [delete_op(leader_key)])
            await client.txn([], [put_op(leader_key, b"someone else")])
            revision = store.revision
            with pytest.raises(Unavailable, match="no longer leads"):
                await store.commit([Put(fresh_node("n2"))])
            assert store.get(Node, "n2") is None
            assert store.revision == revision
        finally:
            await store.close()
            await client.close()


class TestUnreachable:
    async def test_opening_on_nothing_is_unavailable(self) -> None:
        with pytest.raises(Unavailable, match="etcd at"):
            await EtcdStore.open([f"127.0.0.1:{free_port()}"])

    async def test_a_write_with_etcd_gone_is_unavailable_and_changes_nothing(self) -> None:
        with etcd_member() as endpoint:
            store = await EtcdStore.open([endpoint])
            await store.commit([Put(fresh_node("n1"))])
        try:
            revision = store.revision
            with pytest.raises(Unavailable, match="etcd"):
                await store.commit([Put(fresh_node("n2"))])
            assert store.get(Node, "n2") is None
            assert store.revision == revision
        finally:
            await store.close()

    async def test_a_commit_over_etcds_txn_limit_says_which_flag_raises_it(self) -> None:
        with etcd_member(max_txn_ops=4) as endpoint:
            store = await EtcdStore.open([endpoint])
            try:
                with pytest.raises(Unavailable, match="--max-txn-ops"):
                    await store.commit([Put(fresh_node(f"n{i}")) for i in range(5)])
                assert store.objects(Node) == []
                await store.commit([Put(fresh_node("n1"))])
            finally:
                await store.close()

    async def test_the_next_endpoint_is_tried(self, etcd_endpoint: str) -> None:
        """A call that cannot connect to its endpoint was never sent: it goes to the next one at
        once, and later calls start there."""
        dead = f"127.0.0.1:{free_port()}"
        client = EtcdClient([dead, etcd_endpoint])
        try:
            assert await client.range_prefix(b"/nothing/") == ([], ANY)
            assert client.endpoint == etcd_endpoint
            assert (await client.txn([], [])).succeeded
        finally:
            await client.close()

    async def test_every_endpoint_dead_names_the_last_one_tried(self) -> None:
        dead = [f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"]
        client = EtcdClient(dead)
        try:
            with pytest.raises(Unavailable, match=re.escape(dead[1])):
                await client.range_prefix(b"/nothing/")
        finally:
            await client.close()


class TestLeases:
    async def test_grant_renew_revoke(self, etcd_endpoint: str) -> None:
        client = EtcdClient([etcd_endpoint])
        try:
            lease = await client.lease_grant(5)
            assert 0 < await client.lease_keep_alive(lease) <= 5
            await client.lease_revoke(lease)
            assert await client.lease_keep_alive(lease) == 0
        finally:
            await client.close()


class TestUrl:
    def test_endpoints_and_default_prefix(self) -> None:
        assert parse_url("etcd://10.0.0.1:2379,10.0.0.2:2379") == (
            ["10.0.0.1:2379", "10.0.0.2:2379"],
            "/shoal",
        )

    def test_a_prefix_of_its_own(self) -> None:
        assert parse_url("etcd://h:2379/prod/") == (["h:2379"], "/prod")

    def test_manager_serve_refuses_a_bad_store_in_one_line(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        with pytest.raises(SystemExit) as caught:
            build_parser().parse_args(["serve", "--store", "http://10.0.0.1:2379"])
        assert caught.value.code != 0
        [line] = capsys.readouterr().err.splitlines()
        assert "--store" in line
        assert "etcd://HOST:PORT" in line

    @pytest.mark.parametrize(
        "url", ["http://h:2379", "etcd://", "etcd://h", "etcd://h:99999", "etcd://h:2379,:1"]
    )
    def test_bad_urls(self, url: str) -> None:
        with pytest.raises(ValueError, match="etcd"):
            parse_url(url)


def etcdctl(endpoint: str, *args: str) -> str:
    """Debian's etcdctl (etcd-client), run while the event loop waits."""
    done = subprocess.run(
        ["etcdctl", f"--endpoints={endpoint}", *args],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "ETCDCTL_API": "3"},
        timeout=10,
    )
    return done.stdout


def put_op(key: bytes, value: bytes) -> rpc_pb2.RequestOp:
    return rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=key, value=value))


def delete_op(key: bytes) -> rpc_pb2.RequestOp:
    return rpc_pb2.RequestOp(request_delete_range=rpc_pb2.DeleteRangeRequest(key=key))
