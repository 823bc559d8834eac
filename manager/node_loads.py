"""Every node with the live tasks it holds, as the scheduler wants them: built from a view, or
kept in step with the store's events across placement passes."""

from __future__ import annotations

from collections.abc import Iterable

from common.model import Node, Task, TaskState
from common.taskstate import is_live
from manager.scheduler import NodeInfo
from manager.store import Action, Event, ReadView


def holds(task: Task) -> bool:
    """Whether task counts on its node: live, and placed (a global service's pending task names
    its node before it holds anything there)."""
    return is_live(task) and task.status.state >= TaskState.ASSIGNED


def node_infos(view: ReadView, without_service: str = "") -> list[NodeInfo]:
    """Every node with the live tasks it carries; without_service leaves one service's tasks
    out, as if they were gone (to plan their replacement)."""
    return [
        NodeInfo.build(
            n,
            (t for t in view.tasks_on_node(n.id) if holds(t) and t.service_id != without_service),
        )
        for n in view.objects(Node)
    ]


class NodeLoads:
    """The nodes as node_infos builds them, kept by following the store's events instead of
    built afresh: a placement pass in a burst of 100,000 tasks read every task on every node,
    a tenth of the manager's loop at 1,000 nodes. schedule() leaves the NodeInfos as they are."""

    def __init__(self, view: ReadView) -> None:
        # The stored nodes, in the store's order, and what tasks hold on every node they name:
        # a task can name a node not (or no longer) stored, and counts once the node is.
        self._stored: dict[str, None] = {}
        self._loads: dict[str, NodeInfo] = {}
        for node in view.objects(Node):
            self._node(Action.CREATE, node)
        for task in view.objects(Task):
            self._count(task, 1)

    def infos(self) -> list[NodeInfo]:
        return [self._loads[node_id] for node_id in self._stored]

    def follow(self, events: Iterable[Event]) -> None:
        for event in events:
            obj, old = event.obj, event.old
            if isinstance(obj, Node):
                self._node(event.action, obj)
            elif isinstance(obj, Task):
                if isinstance(old, Task):
                    self._count(old, -1)
                if event.action is not Action.DELETE:
                    self._count(obj, 1)

    def _node(self, action: Action, node: Node) -> None:
        if action is Action.DELETE:
            self._stored.pop(node.id, None)
            self._forget_if_idle(node.id)
            return
        self._stored[node.id] = None
        info = self._loads.get(node.id)
        if info is None:
            self._loads[node.id] = NodeInfo(node)
        else:
            info.node = node

    def _count(self, task: Task, sign: int) -> None:
        if not task.node_id or not holds(task):
            return
        info = self._loads.get(task.node_id)
        if info is None:
            # A node not stored: its info is never handed out until the node is.
            info = self._loads[task.node_id] = NodeInfo(Node(id=task.node_id))
        info.count(task, sign)
        self._forget_if_idle(task.node_id)

    def _forget_if_idle(self, node_id: str) -> None:
        info = self._loads.get(node_id)
        if info is not None and node_id not in self._stored and not info.tasks_by_service:
            del self._loads[node_id]
