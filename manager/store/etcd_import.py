"""Moving a cluster kept in SQLite into etcd, once: `manager serve --store etcd://...` on a state
dir that holds state.db.

The move is resumable, not one transaction: etcd caps a Txn (--max-txn-ops, 128 by default;
--max-request-bytes, 1.5 MiB), and a cluster of a few thousand tasks is far beyond that. So:

1. `P/moving` is created holding the cluster's ID, only if neither it nor any object exists
   under the prefix (another cluster's state, or another move, makes it refuse and change
   nothing);
2. every object but the cluster is put in as few Txns as etcd's limits allow (a Txn etcd finds
   too large is split in two and sent again), each one applied only while `P/moving` is
   unchanged, so two managers can never mix two moves;
3. the cluster object is put, and `P/moving` deleted, in the last Txn: until then the prefix
   holds no cluster, and a manager started on it without the SQLite file is refused.

A move that stopped anywhere (a crash, etcd unreachable) is finished by the next start with the
same state dir: it puts everything again and deletes what the SQLite file no longer holds.
Only once the cluster is in etcd is state.db renamed to state.db.moved-to-etcd, which a start
without --store refuses to take for a cluster of its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import structlog

from common.api.etcd import kv_pb2, rpc_pb2
from common.errors import Conflict, FailedPrecondition, Unavailable
from common.model import Cluster, StoredObject
from manager.store.codec import CODECS, decode, encode
from manager.store.etcd import object_key, objects_key
from manager.store.etcd_client import EtcdClient, prefix_end
from manager.store.sqlite import SqliteStore

log = structlog.get_logger("store")

MOVED_SUFFIX = ".moved-to-etcd"
# The first batch tried; etcd's refusals halve it down to what its limits allow.
FIRST_BATCH = 1024
# Below --max-request-bytes' default (1.5 MiB), with room for the Txn's own framing.
BATCH_BYTES = 1024 * 1024

_Compare = rpc_pb2.Compare


def moved_file(sqlite_file: Path) -> Path:
    return sqlite_file.with_name(sqlite_file.name + MOVED_SUFFIX)


def refuse_moved(sqlite_file: Path) -> None:
    """A state dir whose cluster went into etcd must not quietly start a new one in SQLite."""
    if not sqlite_file.exists() and moved_file(sqlite_file).exists():
        raise FailedPrecondition(
            f"this state dir's cluster was moved into etcd ({moved_file(sqlite_file)} is the"
            " old SQLite file): start the manager with --store etcd://..."
        )


def _too_large(exc: Unavailable) -> bool:
    text = str(exc)
    return "too many operations" in text or "too large" in text


class _Move:
    def __init__(self, client: EtcdClient, prefix: str) -> None:
        self.client = client
        self.prefix = prefix
        self.objects = objects_key(prefix)
        self.moving = prefix.encode() + b"/moving"
        self.marker = prefix.encode() + b"/revision"

    def where(self) -> str:
        return f"etcd at {','.join(self.client.endpoints)} under {self.prefix}"

    async def moving_kv(self) -> kv_pb2.KeyValue | None:
        kvs, _ = await self.client.range_prefix(self.moving)
        found = [kv for kv in kvs if kv.key == self.moving]
        return found[0] if found else None

    async def claim(self, cluster_id: str) -> int | None:
        """Begin (or resume) the move; the mod revision of `P/moving` that later Txns compare,
        or None when this cluster is in etcd already. Conflict when another one is."""
        held, _ = await self.client.range_prefix(self.objects + b"cluster/")
        held_ids = [decode("cluster", kv.value).id for kv in held]
        moving = await self.moving_kv()
        if moving is not None and moving.value.decode() != cluster_id:
            raise Conflict(
                f"{self.where()}: a move of another cluster ({moving.value.decode()}) is"
                " unfinished;"
                f" this state dir holds cluster {cluster_id}: nothing was moved"
            )
        if held_ids and held_ids != [cluster_id]:
            raise Conflict(
                f"{self.where()} already holds another cluster ({held_ids[0]}); this state dir"
                f" holds cluster {cluster_id}: nothing was moved"
            )
        if held_ids:
            return None
        if moving is not None:
            return moving.mod_revision
        others, _ = await self.client.range_prefix(self.objects)
        if others:
            raise Conflict(
                f"{self.where()} holds objects of no cluster ({others[0].key.decode()}):"
                " nothing was moved"
            )
        put = rpc_pb2.PutRequest(key=self.moving, value=cluster_id.encode())
        answer = await self.client.txn(
            [
                _Compare(key=self.moving, target=_Compare.CREATE, create_revision=0),
                _Compare(
                    key=self.objects,
                    range_end=prefix_end(self.objects),
                    target=_Compare.CREATE,
                    create_revision=0,
                ),
            ],
            [rpc_pb2.RequestOp(request_put=put)],
        )
        if not answer.succeeded:
            raise Conflict(f"{self.where()} changed while the move began: nothing was moved")
        return answer.header.revision

    async def _apply(self, claim: int, ops: list[rpc_pb2.RequestOp]) -> None:
        """ops in as few Txns as etcd takes, each one only while the move is still ours."""
        guard = _Compare(key=self.moving, target=_Compare.MOD, mod_revision=claim)
        pending = [ops]
        size = FIRST_BATCH
        while pending:
            batch = pending.pop()
            if len(batch) > size or (
                len(batch) > 1 and sum(op.ByteSize() for op in batch) > BATCH_BYTES
            ):
                half = len(batch) // 2
                pending += [batch[half:], batch[:half]]
                continue
            try:
                answer = await self.client.txn([guard], batch)
            except Unavailable as exc:
                if not _too_large(exc) or len(batch) == 1:
                    raise
                size = len(batch) // 2
                pending.append(batch)
                continue
            if not answer.succeeded:
                raise Conflict(f"{self.where()}: another manager took over this move")

    async def copy(self, claim: int, objects: Sequence[StoredObject]) -> None:
        """Every object but the cluster, and away with what a stopped move left that the
        SQLite file no longer holds."""
        wanted = {object_key(self.objects, o): o for o in objects if not isinstance(o, Cluster)}
        there, _ = await self.client.range_prefix(self.objects)
        ops = [
            rpc_pb2.RequestOp(request_delete_range=rpc_pb2.DeleteRangeRequest(key=kv.key))
            for kv in there
            if kv.key not in wanted
        ]
        ops += [
            rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=key, value=encode(obj)))
            for key, obj in wanted.items()
        ]
        if ops:
            await self._apply(claim, ops)

    async def finish(self, claim: int, cluster: Cluster) -> None:
        stamp = datetime.now(UTC).isoformat().encode()
        ops = [
            rpc_pb2.RequestOp(
                request_put=rpc_pb2.PutRequest(
                    key=object_key(self.objects, cluster), value=encode(cluster)
                )
            ),
            rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=self.marker, value=stamp)),
            rpc_pb2.RequestOp(request_delete_range=rpc_pb2.DeleteRangeRequest(key=self.moving)),
        ]
        await self._apply(claim, ops)


async def check_no_move_pending(client: EtcdClient, prefix: str) -> None:
    """A prefix a move is filling holds no cluster yet: a manager without the SQLite file it
    comes from must not start a new cluster there."""
    move = _Move(client, prefix)
    moving = await move.moving_kv()
    if moving is not None:
        raise FailedPrecondition(
            f"{move.where()}: a move of cluster {moving.value.decode()} from SQLite is unfinished;"
            " finish it by starting the manager with the state dir it comes from"
        )


async def move_into_etcd(
    sqlite_file: Path,
    client: EtcdClient,
    prefix: str,
    prepare: Callable[[StoredObject], StoredObject] | None = None,
) -> int:
    """Move the cluster in sqlite_file into etcd under prefix, then rename the file; how many
    objects were moved (0 when the cluster was there already). prepare, when given, makes each
    object what etcd receives: what an older state kept in the clear is sealed before it is
    written, so not even etcd's history holds it."""
    source = await SqliteStore.open(sqlite_file)
    try:
        objects = [
            obj if prepare is None else prepare(obj)
            for kind in CODECS
            for obj in source.objects(kind)
        ]
    finally:
        await source.close()
    clusters = [o for o in objects if isinstance(o, Cluster)]
    moved = 0
    if clusters:
        move = _Move(client, prefix)
        claim = await move.claim(clusters[0].id)
        if claim is not None:
            await move.copy(claim, objects)
            await move.finish(claim, clusters[0])
            moved = len(objects)
    await asyncio.to_thread(sqlite_file.rename, moved_file(sqlite_file))
    log.info(
        "cluster moved from SQLite into etcd",
        objects=moved,
        prefix=prefix,
        kept_as=str(moved_file(sqlite_file)),
    )
    return moved
