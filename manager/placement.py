"""Feeds pending tasks and the nodes to the pure scheduler, and writes its decisions: each task
assigned with its node's slices of the task's networks, in one transaction."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import replace

import structlog

from common.model import Node, Service, StoredObject, Task, TaskState, TaskStatus, now
from common.taskstate import is_live
from manager.allocator import slices
from manager.loops import RETRY_DELAY, attempt, skipping
from manager.metrics import ManagerMetrics
from manager.node_loads import NodeLoads
from manager.scheduler import Demand, demand_of, schedule
from manager.store import Action, Event, Op, Put, ReadView, StateStore

log = structlog.get_logger("placement")

# Tasks never tried placed by one pass at most: a pass holds the event loop while it schedules
# and the store while it writes, and a pass over a burst's 10,000 tasks made every Control call
# wait behind it. The rest go in the passes that follow at once.
PASS_LIMIT = 2000


def _is_pending(task: Task) -> bool:
    return task.desired_state == TaskState.RUNNING and task.status.state == TaskState.PENDING


class _Tracked:
    """What the loop keeps from the store's events rather than scanning the store at each pass:
    a burst of 100,000 tasks would otherwise cost a scan per batch of events."""

    def __init__(self, store: StateStore) -> None:
        self.pending = {t.id for t in store.objects(Task) if _is_pending(t)}
        self.loads = NodeLoads(store)
        # Opened right after the reads, with no await between: no event is missed or doubled.
        self.watch = store.watch()
        self.closed = False

    def take(self, events: list[Event]) -> None:
        _follow(self.pending, events)
        self.loads.follow(events)

    def catch_up(self) -> None:
        """Take the events not yet read: inside a plan, the node loads then match its view."""
        self.take(self.watch.queued())

    def close(self) -> None:
        self.closed = True
        self.watch.close()


class PlacementLoop:
    def __init__(self, store: StateStore, metrics: ManagerMetrics | None = None) -> None:
        self._store = store
        self._metrics = metrics or ManagerMetrics()
        # Whether the last pass left tasks it never tried for the next.
        self._backlog = False

    async def run(self) -> None:
        tracked = _Tracked(self._store)
        watch = tracked.watch
        try:
            due = bool(tracked.pending)
            while True:
                if (
                    due
                    and tracked.pending
                    and not await attempt("placement pass", self._place(tracked))
                ):
                    # Retried after a while, or at the next change, whichever comes first.
                    with contextlib.suppress(TimeoutError):
                        # Not wait_for: on 3.11 it can swallow the cancel that stops this loop.
                        async with asyncio.timeout(RETRY_DELAY):
                            tracked.take(await watch.next_batch())
                    continue
                events = await watch.next_batch()
                tracked.take(events)
                due = self._backlog or _worth_a_pass(events)
        finally:
            tracked.close()

    async def _place(self, tracked: _Tracked) -> None:
        def plan(view: ReadView) -> Sequence[Op]:
            self._backlog = False
            if tracked.closed:
                # The loop stopped while this pass waited for the store (the write is shielded):
                # its watch no longer hears what changed, so it places nothing.
                return []
            # What a pass reads here went by while it waited for the store: take it, or the
            # nodes' loads would lag the view. Events read here are not looked at for whether
            # they call for a pass: this one sees them.
            tracked.catch_up()
            pending = sorted(tracked.pending)
            tasks = [t for tid in pending if (t := view.get(Task, tid)) and _is_pending(t)]
            if not tasks:
                return []
            demands, unreadable = _demands(view, tasks)
            # Tasks of a service whose demand could not be read wait, the others are placed.
            tasks = [t for t in tasks if t.service_id not in unreadable]
            tasks.sort(key=lambda t: (t.meta.created_at, t.service_id, t.slot))
            tasks = self._this_pass(tasks)
            decided = schedule(tasks, tracked.loads.infos(), demands)
            # A node's slice of each of its task's networks comes with the assignment.
            grant = slices.SliceGrant(view)
            at = now()
            ops: list[Op] = []
            for task in tasks:
                node_id = decided.placements.get(task.id)
                reason = decided.reasons.get(task.id, "")
                if node_id is not None:
                    reason = grant.give(task, node_id)
                    if not reason:
                        status = TaskStatus(
                            state=TaskState.ASSIGNED, timestamp=at, message="assigned"
                        )
                        ops.append(Put(replace(task, node_id=node_id, status=status)))
                        continue
                if task.status.err != reason:
                    status = replace(task.status, err=reason, timestamp=at)
                    ops.append(Put(replace(task, status=status)))
            return [*grant.ops(), *ops]

        stored = await self._store.transact(plan)
        placed = sum(1 for o in stored if isinstance(o, Task) and o.node_id)
        observe_pass(self._metrics, stored)
        if stored:
            log.debug("placement pass", placed=placed, unplaced=len(stored) - placed)

    def _this_pass(self, tasks: list[Task]) -> list[Task]:
        """Every pending task, or only the oldest PASS_LIMIT of those never tried when there
        are more: the ones that found no room (their reason said) are tried again with the
        last of them, so they cannot hold up the rest pass after pass."""
        untried = [t for t in tasks if not t.status.err]
        self._backlog = len(untried) > PASS_LIMIT
        return untried[:PASS_LIMIT] if self._backlog else tasks


def observe_pass(metrics: ManagerMetrics, stored: list[StoredObject]) -> None:
    """Count the pass and time each task placed since its creation."""
    metrics.scheduler_passes.inc()
    for obj in stored:
        if isinstance(obj, Task) and obj.node_id:
            waited = (obj.status.timestamp - obj.meta.created_at).total_seconds()
            metrics.placement_latency.observe(max(0.0, waited))


def _demands(view: ReadView, tasks: list[Task]) -> tuple[dict[str, Demand], set[str]]:
    """Each service's demand, and the services whose stored spec it could not be read from."""
    demands = {}
    unreadable = set()
    services = {s.id: s for sid in {t.service_id for t in tasks} if (s := view.get(Service, sid))}
    rooms = slices.rooms(view, (n for s in services.values() for n in s.spec.networks))
    for service_id, service in services.items():
        unreadable.add(service_id)
        with skipping("placement demand", service_id=service_id):
            spec = service.spec
            networks = (rooms[n] for n in spec.networks if n in rooms)
            demands[service_id] = demand_of(spec.placement, spec.ports, networks)
            unreadable.discard(service_id)
    return demands, unreadable


def _follow(pending: set[str], events: list[Event]) -> None:
    """Keep the set of pending tasks in step with the store's events."""
    for event in events:
        task = event.obj
        if not isinstance(task, Task):
            continue
        if event.action is not Action.DELETE and _is_pending(task):
            pending.add(task.id)
        else:
            pending.discard(task.id)


def _worth_a_pass(events: list[Event]) -> bool:
    """New pending tasks, any change to nodes, or a task that ended: room may have appeared."""
    for event in events:
        obj = event.obj
        if isinstance(obj, Node):
            return True
        if isinstance(obj, Task) and _is_pending(obj) and not obj.status.err:
            return True
        # A task that ended frees what it reserved on its node.
        old = event.old
        if isinstance(obj, Task) and isinstance(old, Task) and is_live(old) and not is_live(obj):
            return True
    return False
