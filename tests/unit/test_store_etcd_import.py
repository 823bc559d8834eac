"""Moving a SQLite cluster into etcd (manager/store/etcd_import.py): everything once, in Txns
etcd's limits allow, resumable; never over another cluster; the SQLite file kept but retired."""

from __future__ import annotations

import uuid
from dataclasses import replace
from pathlib import Path

import pytest

from common.api.etcd import rpc_pb2
from common.errors import Conflict, FailedPrecondition
from common.model import Cluster, Meta, Node, Service, StoredObject, Task
from manager.store import EtcdStore, Put, SqliteStore
from manager.store.choice import open_store
from manager.store.codec import CODECS, encode
from manager.store.etcd_client import EtcdClient
from tests.etcd_member import etcd_member
from tests.unit.store_objects import fresh_node, fresh_service, fresh_task

pytestmark = pytest.mark.etcd


def a_cluster(cluster_id: str) -> Cluster:
    return Cluster(
        id=cluster_id, digest="d" * 64, clear_worker_secret="w", clear_manager_secret="m"
    )


async def sqlite_cluster(path: Path, cluster_id: str, tasks: int = 3) -> list[StoredObject]:
    """A cluster in SQLite, some objects written twice so versions are not all 1; every object
    as stored."""
    store = await SqliteStore.open(path)
    try:
        await store.commit(
            [Put(a_cluster(cluster_id)), Put(fresh_node("n1")), Put(fresh_service("s1"))]
            + [Put(fresh_task(f"t{i}", i + 1, "n1")) for i in range(tasks)]
        )
        node = store.get(Node, "n1")
        assert node is not None
        await store.commit([Put(replace(node, addr="10.0.0.9:7462"))])
        return everything(store)
    finally:
        await store.close()


def everything(store: SqliteStore | EtcdStore) -> list[StoredObject]:
    found: list[StoredObject] = [o for kind in CODECS for o in store.objects(kind)]
    return sorted(found, key=lambda o: (type(o).__name__, o.id))


async def etcd_keys(endpoint: str, prefix: str) -> dict[bytes, bytes]:
    client = EtcdClient([endpoint])
    try:
        kvs, _ = await client.range_prefix(prefix.encode() + b"/")
    finally:
        await client.close()
    return {kv.key: kv.value for kv in kvs}


@pytest.fixture
def prefix() -> str:
    return f"/move-{uuid.uuid4().hex[:12]}"


class TestMove:
    async def test_every_object_moves_with_its_version_and_the_file_is_retired(
        self, etcd_endpoint: str, prefix: str, tmp_path: Path
    ) -> None:
        db = tmp_path / "state.db"
        before = await sqlite_cluster(db, "c1")
        opened = await open_store(f"etcd://{etcd_endpoint}{prefix}", db)
        try:
            # Equal with their meta: the node written twice is at version 2 in etcd too.
            assert everything(opened.store) == before
        finally:
            await opened.store.close()
        assert not db.exists()
        assert (tmp_path / "state.db.moved-to-etcd").exists()
        # Started again without --store, the state dir does not become a new cluster.
        with pytest.raises(FailedPrecondition, match="was moved into etcd") as caught:
            await open_store(None, db)
        assert "\n" not in str(caught.value)
        assert not db.exists()
        # Started again with it, the cluster is simply there.
        again = await open_store(f"etcd://{etcd_endpoint}{prefix}", db)
        try:
            assert everything(again.store) == before
        finally:
            await again.store.close()

    async def test_a_cluster_beyond_one_txn_moves_in_several(
        self, prefix: str, tmp_path: Path
    ) -> None:
        """etcd started with --max-txn-ops 16: 300 objects still move, all of them."""
        db = tmp_path / "state.db"
        before = await sqlite_cluster(db, "c1", tasks=300)
        with etcd_member(max_txn_ops=16) as endpoint:
            opened = await open_store(f"etcd://{endpoint}{prefix}", db)
            try:
                assert everything(opened.store) == before
                assert len(opened.store.objects(Task)) == 300
            finally:
                await opened.store.close()

    async def test_an_unfinished_move_is_finished_by_the_next_start(
        self, etcd_endpoint: str, prefix: str, tmp_path: Path
    ) -> None:
        """A move that stopped half way (the marker still there, a service the SQLite file no
        longer holds): the next start puts everything, deletes the leftover, ends the move."""
        db = tmp_path / "state.db"
        before = await sqlite_cluster(db, "c1")
        stale = replace(fresh_service("gone"), meta=Meta(version=1))
        client = EtcdClient([etcd_endpoint])
        try:
            put = rpc_pb2.PutRequest
            await client.txn(
                [],
                [
                    rpc_pb2.RequestOp(
                        request_put=put(key=f"{prefix}/moving".encode(), value=b"c1")
                    ),
                    rpc_pb2.RequestOp(
                        request_put=put(
                            key=f"{prefix}/objects/service/gone".encode(), value=encode(stale)
                        )
                    ),
                ],
            )
        finally:
            await client.close()
        # Meanwhile, a manager without the SQLite file may not start a cluster there.
        with pytest.raises(FailedPrecondition, match="move of cluster c1 from SQLite is unfin"):
            await open_store(f"etcd://{etcd_endpoint}{prefix}", tmp_path / "other" / "state.db")
        opened = await open_store(f"etcd://{etcd_endpoint}{prefix}", db)
        try:
            assert everything(opened.store) == before
            assert opened.store.get(Service, "gone") is None
        finally:
            await opened.store.close()
        assert f"{prefix}/moving".encode() not in await etcd_keys(etcd_endpoint, prefix)


class TestRefusal:
    async def test_another_cluster_in_etcd_is_left_alone_and_nothing_moves(
        self, etcd_endpoint: str, prefix: str, tmp_path: Path
    ) -> None:
        """Conflict in one line naming both clusters; etcd and the SQLite file unchanged."""
        other = await EtcdStore.open([etcd_endpoint], prefix)
        try:
            await other.commit([Put(a_cluster("theirs")), Put(fresh_node("their-node"))])
        finally:
            await other.close()
        held = await etcd_keys(etcd_endpoint, prefix)
        db = tmp_path / "state.db"
        before = await sqlite_cluster(db, "ours")
        with pytest.raises(Conflict) as caught:
            await open_store(f"etcd://{etcd_endpoint}{prefix}", db)
        message = str(caught.value)
        assert "\n" not in message
        assert "already holds another cluster (theirs)" in message
        assert "ours" in message
        assert await etcd_keys(etcd_endpoint, prefix) == held
        assert db.exists()
        assert not (tmp_path / "state.db.moved-to-etcd").exists()
        kept = await SqliteStore.open(db)
        try:
            assert everything(kept) == before
        finally:
            await kept.close()

    async def test_objects_of_no_cluster_are_not_moved_over(
        self, etcd_endpoint: str, prefix: str, tmp_path: Path
    ) -> None:
        client = EtcdClient([etcd_endpoint])
        try:
            key = f"{prefix}/objects/node/stray".encode()
            value = encode(replace(fresh_node("stray"), meta=Meta(version=1)))
            put = rpc_pb2.PutRequest(key=key, value=value)
            await client.txn([], [rpc_pb2.RequestOp(request_put=put)])
        finally:
            await client.close()
        db = tmp_path / "state.db"
        await sqlite_cluster(db, "ours")
        with pytest.raises(Conflict, match="holds objects of no cluster"):
            await open_store(f"etcd://{etcd_endpoint}{prefix}", db)
        assert list(await etcd_keys(etcd_endpoint, prefix)) == [key]
        assert db.exists()
