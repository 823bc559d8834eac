"""The store on etcd: every object in memory for reads, kept warm from an etcd watch; etcd for
durability (and, later, for several managers to share).

Layout under the store's prefix P: `P/objects/<kind>/<id>` holds an object's protobuf, and
`P/revision` is rewritten by every commit with the moment it was staged, so events read back
from etcd carry the time of their revision, and its mod revision is the prefix's newest commit.

Compare-and-swap uses each key's etcd mod revision, not the object's meta.version: the mod
revision is etcd's own, set by the server on every write, so a compare on it cannot be fooled by
a writer that stored a wrong version field. The store remembers the mod revision of every key
it holds; a commit is one Txn comparing every key it touches (created keys: create revision 0,
i.e. absent) plus, when set, the fence. meta.version stays the objects' own counter, as with
SQLite.

The store's revision is etcd's: a commit's events carry the revision etcd gave its Txn, so
revisions grow with every commit but not one by one (other keys in etcd move them too).

A commit returns once etcd has applied it and the watch has brought it into memory, so what a
caller reads next includes its own write. Events of this store's own commits are the ones it
staged (two writes to one object in one commit are two events, as with SQLite); events written
by anyone else are rebuilt from the watch.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import structlog

from common.api.etcd import kv_pb2, rpc_pb2
from common.errors import Conflict, Unavailable
from common.model import StoredObject, Task, now
from manager.store.base import Action, Event, Op, ReadView, T, Watch
from manager.store.codec import KIND_TYPES, decode, encode, kind_name
from manager.store.etcd_client import EtcdClient
from manager.store.etcd_tls import EtcdTls
from manager.store.etcd_url import DEFAULT_PREFIX
from manager.store.view import EventLog, MemoryState, stage
from manager.store.write_lock import WriteLock

log = structlog.get_logger("store")

# How many past events a watch can resume from.
HISTORY = 10_000
# How long a commit etcd accepted may take to come back through the watch.
CATCH_UP = 5.0
# Plans tried against others' writes before a commit gives up: each refusal means another
# writer committed, so only a livelock (or a writer that skips the marker) runs out of them.
REPLANS = 100
# Pause between attempts to watch again after etcd broke a watch.
RETRY = (0.1, 2.0)

_Compare = rpc_pb2.Compare


@dataclass(frozen=True)
class Fence:
    """A key that must still exist with this create revision for a commit to apply: the lease
    key of the manager that leads, so a deposed leader's writes fail."""

    key: bytes
    create_revision: int


def objects_key(prefix: str) -> bytes:
    """Where prefix's objects are: `P/objects/`."""
    return prefix.encode() + b"/objects/"


def object_key(objects: bytes, obj: StoredObject) -> bytes:
    """obj's key under objects (an objects_key)."""
    return objects + f"{kind_name(obj)}/{obj.id}".encode()


class EtcdStore:
    def __init__(self, client: EtcdClient, prefix: str) -> None:
        self.client = client
        self.prefix = prefix
        self._root = prefix.encode() + b"/"
        self._objects_key = objects_key(prefix)
        self._marker_key = self._root + b"revision"
        self._state = MemoryState()
        self._mods: dict[bytes, int] = {}
        self._revision = 0
        self._events = EventLog(HISTORY, 0)
        self._lock = WriteLock()
        self._moved = asyncio.Condition()
        # Events of this store's commits, by revision, until the watch brings that revision.
        self._pending: dict[int, list[Event]] = {}
        self._idle = asyncio.Event()
        self._idle.set()
        self._follower: asyncio.Task[None] | None = None
        self.fence: Fence | None = None
        # Set while another manager leads: every commit fails with it, before reaching etcd.
        self.refusal: str | None = None
        # Told (seconds in etcd, objects written) after each commit: the manager's metrics.
        self.on_commit: Callable[[float, int], None] | None = None

    @classmethod
    async def open(
        cls, endpoints: Sequence[str], prefix: str = DEFAULT_PREFIX, tls: EtcdTls | None = None
    ) -> EtcdStore:
        store = cls(EtcdClient(endpoints, tls=tls), prefix)
        try:
            kvs, revision = await store.client.range_prefix(store._objects_key)
        except BaseException:
            await store.client.close()
            raise
        for kv in kvs:
            store._state.apply(Action.CREATE, store._decode(kv))
            store._mods[kv.key] = kv.mod_revision
        store._revision = revision
        store._events = EventLog(HISTORY, revision)
        store._follower = asyncio.create_task(store._follow(), name="store-etcd-watch")
        return store

    # -- reads --------------------------------------------------------------------------------

    @property
    def revision(self) -> int:
        return self._revision

    def get(self, kind: type[T], obj_id: str) -> T | None:
        return self._state.get(kind, obj_id)

    def objects(self, kind: type[T]) -> list[T]:
        return self._state.objects(kind)

    def tasks_of_service(self, service_id: str) -> list[Task]:
        return self._state.tasks_of_service(service_id)

    def tasks_on_node(self, node_id: str) -> list[Task]:
        return self._state.tasks_on_node(node_id)

    # -- writes -------------------------------------------------------------------------------

    async def commit(self, ops: Sequence[Op]) -> list[StoredObject]:
        return await self.transact(lambda _view: ops)

    async def transact(
        self, plan: Callable[[ReadView], Sequence[Op]], urgent: bool = False
    ) -> list[StoredObject]:
        # Shielded, as with SQLite: a commit sent to etcd is seen through to memory.
        return await asyncio.shield(asyncio.ensure_future(self._transact(plan, urgent)))

    async def _transact(
        self, plan: Callable[[ReadView], Sequence[Op]], urgent: bool
    ) -> list[StoredObject]:
        async with self._lock.hold(urgent):
            for _ in range(REPLANS):
                ops = plan(self)
                if not ops:
                    return []
                if self.refusal is not None:
                    raise Unavailable(self.refusal)
                events = stage(self._state, ops)
                started = time.monotonic()
                # The watch holds back while the Txn is out, so that the revision it brings
                # is told with the events staged here, not ones rebuilt from etcd's.
                self._idle.clear()
                try:
                    answer = await self.client.txn(*self._txn(events), resend=True)
                    revision = self._applied(answer, events)
                    if revision:
                        self._pending[revision] = [e.committed(revision) for e in events]
                        break
                finally:
                    self._idle.set()
                fence = self.fence
                if fence is not None and not self._fence_holds(fence, answer):
                    raise Unavailable("this manager no longer leads; its write was refused")
                # Someone else wrote a key the plan read: wait until memory has their commit
                # (the newest under the prefix, told by the marker every commit writes; etcd's
                # own revision also counts keys elsewhere), then plan again against it.
                marker = answer.responses[0].response_range.kvs
                await self._catch_up(marker[0].mod_revision if marker else 0)
            else:
                raise Conflict("the state changed under every attempt at this write; try again")
            if self.on_commit is not None:
                self.on_commit(time.monotonic() - started, len(events))
            await self._catch_up(revision)
            return [e.obj for e in events]

    def _txn(
        self, events: list[Event]
    ) -> tuple[list[_Compare], list[rpc_pb2.RequestOp], list[rpc_pb2.RequestOp]]:
        # etcd refuses two writes to one key in a Txn: each key gets its final state.
        final: dict[bytes, StoredObject | None] = {}
        for event in events:
            final[self._key(event.obj)] = None if event.action is Action.DELETE else event.obj
        compare: list[_Compare] = []
        success: list[rpc_pb2.RequestOp] = []
        for key, obj in final.items():
            mod = self._mods.get(key)
            if mod is None:
                compare.append(_Compare(key=key, target=_Compare.CREATE, create_revision=0))
            else:
                compare.append(_Compare(key=key, target=_Compare.MOD, mod_revision=mod))
            if obj is None:
                request = rpc_pb2.DeleteRangeRequest(key=key)
                success.append(rpc_pb2.RequestOp(request_delete_range=request))
            else:
                put = rpc_pb2.PutRequest(key=key, value=encode(obj))
                success.append(rpc_pb2.RequestOp(request_put=put))
        stamp = rpc_pb2.PutRequest(key=self._marker_key, value=_stamp(events))
        success.append(rpc_pb2.RequestOp(request_put=stamp))
        # Read back on failure: the newest commit under the prefix, and the fence.
        failure = [rpc_pb2.RequestOp(request_range=rpc_pb2.RangeRequest(key=self._marker_key))]
        if self.fence is not None:
            compare.append(
                _Compare(
                    key=self.fence.key,
                    target=_Compare.CREATE,
                    create_revision=self.fence.create_revision,
                )
            )
            failure.append(
                rpc_pb2.RequestOp(request_range=rpc_pb2.RangeRequest(key=self.fence.key))
            )
        return compare, success, failure

    def _applied(self, answer: rpc_pb2.TxnResponse, events: list[Event]) -> int:
        """The revision that holds this commit, or 0 if etcd refused it. A Txn sent again (its
        first copy timed out, and was applied after all) fails its compares against its own
        writes: the marker, stamped with this commit's moment, tells it was this one."""
        if answer.succeeded:
            return answer.header.revision
        marker = answer.responses[0].response_range.kvs
        if marker and marker[0].value == _stamp(events):
            return marker[0].mod_revision
        return 0

    @staticmethod
    def _fence_holds(fence: Fence, answer: rpc_pb2.TxnResponse) -> bool:
        kvs = answer.responses[1].response_range.kvs
        return bool(kvs) and kvs[0].create_revision == fence.create_revision

    async def reached(self, revision: int) -> None:
        """Return once memory holds revision: a write another manager made, for one who reads
        here next; Unavailable when the watch does not bring it in time."""
        await self._catch_up(revision)

    async def _catch_up(self, revision: int) -> None:
        try:
            async with asyncio.timeout(CATCH_UP), self._moved:
                await self._moved.wait_for(lambda: self._revision >= revision)
        except TimeoutError:
            raise Unavailable(
                f"the state store (etcd at {self.client.endpoint}) stopped sending revision"
                f" {revision}; the manager could not confirm the change"
            ) from None

    # -- the watch ----------------------------------------------------------------------------

    async def _follow(self) -> None:
        """Bring every revision etcd holds under the prefix into memory, in order, for ever."""
        pause = RETRY[0]
        while True:
            try:
                async for answer in self.client.watch(self._root, self._revision + 1):
                    if answer.compact_revision:
                        await self._resync()
                        break
                    await self._absorb(answer.events)
                    pause = RETRY[0]
            except Unavailable as exc:
                log.warning("store watch broken; watching again", error=str(exc))
                await asyncio.sleep(pause)
                pause = min(pause * 2, RETRY[1])

    async def _absorb(self, changes: Sequence[kv_pb2.Event]) -> None:
        await self._idle.wait()
        by_revision: dict[int, list[kv_pb2.Event]] = {}
        for change in changes:
            by_revision.setdefault(change.kv.mod_revision, []).append(change)
        for revision, group in sorted(by_revision.items()):
            if revision <= self._revision:
                continue
            events = self._pending.pop(revision, None)
            if events is None:
                events = self._rebuild(revision, group)
            else:
                for event in events:
                    self._state.apply(event.action, event.obj)
            for change in group:
                if change.type == kv_pb2.Event.DELETE:
                    self._mods.pop(change.kv.key, None)
                elif change.kv.key.startswith(self._objects_key):
                    self._mods[change.kv.key] = change.kv.mod_revision
            self._revision = revision
            for event in events:
                self._events.publish(event)
        async with self._moved:
            self._moved.notify_all()

    def _rebuild(self, revision: int, group: list[kv_pb2.Event]) -> list[Event]:
        """The events of a revision another writer made, applied to memory."""
        stamp = now()
        for change in group:
            if change.kv.key == self._marker_key and change.type == kv_pb2.Event.PUT:
                with contextlib.suppress(ValueError):
                    stamp = datetime.fromisoformat(change.kv.value.decode())
        events: list[Event] = []
        for change in group:
            if not change.kv.key.startswith(self._objects_key):
                continue
            if change.type == kv_pb2.Event.DELETE:
                gone = self._current(change.kv.key)
                if gone is not None:
                    events.append(Event(revision, Action.DELETE, gone, gone, stamp))
                    self._state.apply(Action.DELETE, gone)
                continue
            obj = self._decode(change.kv)
            old = self._state.current(type(obj), obj.id)
            action = Action.UPDATE if old is not None else Action.CREATE
            events.append(Event(revision, action, obj, old, stamp))
            self._state.apply(action, obj)
        return events

    async def _resync(self) -> None:
        """After etcd compacted revisions the watch missed: reload, and tell the differences."""
        kvs, revision = await self.client.range_prefix(self._objects_key)
        log.warning("store watch fell behind etcd's compaction; reloaded", revision=revision)
        fresh = {kv.key: kv for kv in kvs}
        gone = kv_pb2.Event.DELETE
        changes = [
            kv_pb2.Event(type=gone, kv=kv_pb2.KeyValue(key=key, mod_revision=revision))
            for key in self._mods
            if key not in fresh
        ]
        changes += [
            kv_pb2.Event(type=kv_pb2.Event.PUT, kv=replace_revision(kv, revision))
            for kv in kvs
            if self._mods.get(kv.key) != kv.mod_revision
        ]
        await self._absorb(changes)
        # Compare-and-swap needs each key's real mod revision, not the one its event was told at.
        self._mods = {kv.key: kv.mod_revision for kv in kvs}
        self._revision = max(self._revision, revision)

    # -- keys ---------------------------------------------------------------------------------

    def _key(self, obj: StoredObject) -> bytes:
        return object_key(self._objects_key, obj)

    def _current(self, key: bytes) -> StoredObject | None:
        kind, _, obj_id = key[len(self._objects_key) :].decode().partition("/")
        return self._state.current(KIND_TYPES[kind], obj_id)

    def _decode(self, kv: kv_pb2.KeyValue) -> StoredObject:
        kind = kv.key[len(self._objects_key) :].decode().partition("/")[0]
        if kind not in KIND_TYPES:
            raise Conflict(f"etcd key {kv.key!r} holds no kind this release knows")
        return decode(kind, kv.value)

    # -- watches ------------------------------------------------------------------------------

    def watch(self, since: int | None = None) -> Watch:
        return self._events.watch(since, self._revision)

    def revision_at(self, moment: datetime) -> int:
        return self._events.revision_at(moment, self._revision)

    def history_from(self) -> datetime:
        return self._events.kept_from

    async def close(self) -> None:
        async with self._lock.hold():
            if self._follower is not None:
                self._follower.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._follower
            await self.client.close()


def _stamp(events: list[Event]) -> bytes:
    """The marker's value for a commit: the moment it was staged, to the microsecond."""
    return events[0].time.isoformat().encode()


def replace_revision(kv: kv_pb2.KeyValue, revision: int) -> kv_pb2.KeyValue:
    """kv as if written at revision: a reload tells all it found as of one revision."""
    return kv_pb2.KeyValue(
        key=kv.key, value=kv.value, create_revision=kv.create_revision, mod_revision=revision
    )
