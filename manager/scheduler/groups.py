"""Where the tasks of one service with the same reservations can go: a tree of heaps over the
eligible nodes, kept across a batch, so placing a task costs a few heap steps instead of a pass
over every node."""

from __future__ import annotations

from collections import Counter
from heapq import heapify, heappop, heapreplace

from common.model import Task
from manager.scheduler.batch import OWN_SHIFT, RANK_MASK, Batch, Placed, Unplaceable, Verdict
from manager.scheduler.filters import first_failing, unplaceable_reason

# A leaf's key is an int (the node's tasks of the service, then its load: see batch.py); a
# branch's, the service's tasks on the subtree's label value, then the subtree's key.
_Key = int | tuple[int, "_Key"]


class _Leaf:
    """Eligible nodes with the same value for every spread key: only their own load tells them
    apart, so a plain heap of their keys orders them."""

    def __init__(self, keys: list[int]) -> None:
        heapify(keys)
        self.heap = keys

    def floor(self) -> _Key:
        return self.heap[0]

    def best(self, group: Group, task: Task) -> _Key | None:
        """The smallest key once it is current and its node passes the dynamic filters."""
        heap, batch, service_id = self.heap, group.batch, group.service_id
        nodes, loads, by_rank = batch.nodes, batch.loads, batch.by_rank
        while heap:
            key = heap[0]
            i = by_rank[key & RANK_MASK]
            info = nodes[i]
            now = (info.tasks_by_service.get(service_id, 0) << OWN_SHIFT) | loads[i]
            if now != key:
                heapreplace(heap, now)
            elif all(f.check(task, info, group.demand) for f in group.dynamic):
                return key
            else:
                heappop(heap)
        return None


class _Branch:
    """Subtrees that differ in the value of one spread key, ordered by the service's tasks on
    that value (over every node), then by their best key."""

    def __init__(self, counts: Counter[str], subtrees: dict[str, _Leaf | _Branch]) -> None:
        self.counts = counts
        self.values = list(subtrees)
        self.subtrees = list(subtrees.values())
        self.heap = [((counts[v], t.floor()), p) for p, (v, t) in enumerate(subtrees.items())]
        heapify(self.heap)

    def floor(self) -> _Key:
        return self.heap[0][0]

    def best(self, group: Group, task: Task) -> _Key | None:
        heap = self.heap
        while heap:
            stored, p = heap[0]
            below = self.subtrees[p].best(group, task)
            if below is None:
                heappop(heap)
                continue
            key = (self.counts[self.values[p]], below)
            if key == stored:
                return key
            heapreplace(heap, (key, p))
        return None


class Group:
    """Where the tasks of one service with the same reservations can go, kept across the batch.

    The eligible nodes form a tree, one level per spread key, then leaves of nodes alike in every
    spread label. Each level keeps a heap whose entries may lag behind: every count in a key only
    grows during a batch, and a leaf starts each node as if it held none of the service's tasks,
    so an entry is never above its true key. The top entry is brought up to date and pushed back
    until the top is current, and then it is the minimum.
    """

    def __init__(self, batch: Batch, task: Task) -> None:
        self.batch = batch
        self.service_id = task.service_id
        self.demand = batch.demand(task.service_id)
        self.dynamic = tuple(f for f in batch.filters(task.service_id) if f.dynamic)
        static = tuple(f for f in batch.filters(task.service_id) if not f.dynamic)
        eligible = batch.eligible(task, static)
        self._root = self._tree(eligible, 0, True) if eligible else None
        self._failed: list[int | None] | None = None
        self._excluded: Counter[int] = Counter()
        self._seen = 0
        self._reason = ""
        self._rooms_taken = 0

    def _tree(self, members: list[int], depth: int, top: bool) -> _Leaf | _Branch:
        nodes, loads = self.batch.nodes, self.batch.loads
        keys = self.demand.spread
        if depth == len(keys):
            # The load alone, as if the node held none of the service's tasks: a key below the
            # node's true one, which the heap brings up to date when it comes to the top. Only
            # the nodes placed on are looked at, not every eligible one at every group.
            return _Leaf([loads[i] for i in members])
        by_value: dict[str, list[int]] = {}
        for i in members:
            by_value.setdefault(nodes[i].node.labels.get(keys[depth], ""), []).append(i)
        # A key with one value for every eligible node cannot order them, so the top skips it;
        # below the top, siblings need keys of one length to compare, so every level stays.
        if top and len(by_value) == 1:
            return self._tree(members, depth + 1, top)
        counts = self.batch.spread_counts(self.service_id)[depth]
        return _Branch(counts, {v: self._tree(m, depth + 1, False) for v, m in by_value.items()})

    def place(self, task: Task) -> Verdict:
        """The index of the node for task, or why there is none."""
        key = self._root.best(self, task) if self._root is not None else None
        if key is None:
            return Unplaceable(self._why(task))
        while isinstance(key, tuple):
            key = key[1]
        return Placed(self.batch.by_rank[key & RANK_MASK])

    def _why(self, task: Task) -> str:
        """The counted reason over every node as they stand now. Once worked out, only the nodes
        placed on since can have changed their verdict, so only those are judged again; unless
        a placement took a slice of one of the service's networks, which may change any node's."""
        batch, filters = self.batch, self.batch.filters(self.service_id)
        rooms_taken = batch.rooms_taken(self.service_id)
        if self._failed is None or rooms_taken != self._rooms_taken:
            self._rooms_taken = rooms_taken
            self._failed = [first_failing(filters, task, info, self.demand) for info in batch.nodes]
            self._excluded = Counter(i for i in self._failed if i is not None)
        elif self._seen == len(batch.placed):
            return self._reason
        else:
            for n in set(batch.placed[self._seen :]):
                was = self._failed[n]
                now = first_failing(filters, task, batch.nodes[n], self.demand)
                if now != was:
                    if was is not None:
                        self._excluded[was] -= 1
                    if now is not None:
                        self._excluded[now] += 1
                    self._failed[n] = now
        self._seen = len(batch.placed)
        self._reason = unplaceable_reason(+self._excluded, filters, len(batch.nodes))
        return self._reason
