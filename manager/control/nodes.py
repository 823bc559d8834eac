"""The Control API's calls on nodes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from common import convert
from common.api import control_pb2 as pb
from common.errors import Conflict, FailedPrecondition, NotFound, StaleVersion
from common.grpc_errors import unary_errors
from common.limits import check_labels
from common.model import Availability, Cluster, Node, NodeRole, NodeState
from manager import ca_rotation
from manager.control.base import ControlBase
from manager.control.resolve import resolve_node
from manager.store import Delete, Op, Put, ReadView


class NodeCalls(ControlBase):
    @unary_errors
    async def ListNodes(self, request: pb.ListNodesRequest, context: Any) -> pb.ListNodesResponse:
        nodes = sorted(self._store.objects(Node), key=lambda n: (n.description.hostname, n.id))
        cluster = self._store.objects(Cluster)[0]
        return pb.ListNodesResponse(
            tls_status={n.id: ca_rotation.tls_status(n, cluster) for n in nodes},
            nodes=[convert.node_to_pb(n) for n in nodes],
            self_node_id=self._self_node_id,
            manager_status={
                n.id: convert.manager_status_to_pb(self._managers.status(n.id, n.addr))
                for n in nodes
                if n.role is NodeRole.MANAGER
            },
        )

    @unary_errors
    async def GetNode(self, request: pb.GetNodeRequest, context: Any) -> pb.NodeResponse:
        return self._node_response(resolve_node(self._store, request.ref))

    def _node_response(self, node: Node) -> pb.NodeResponse:
        tls = ca_rotation.tls_status(node, self._store.objects(Cluster)[0])
        if node.role is not NodeRole.MANAGER:
            return pb.NodeResponse(node=convert.node_to_pb(node), tls_status=tls)
        status = self._managers.status(node.id, node.addr)
        return pb.NodeResponse(
            node=convert.node_to_pb(node),
            manager_status=convert.manager_status_to_pb(status),
            tls_status=tls,
        )

    @unary_errors
    async def UpdateNode(self, request: pb.UpdateNodeRequest, context: Any) -> pb.NodeResponse:
        availability = convert.enum_from_pb(Availability, request.availability, "availability")
        labels = dict(request.labels)
        check_labels("node label", labels)
        role = (
            convert.enum_from_pb(NodeRole, request.role, "role")
            if request.HasField("role")
            else None
        )

        def plan(view: ReadView) -> Sequence[Op]:
            node = view.get(Node, request.node_id)
            if node is None:
                raise NotFound(f"no such node: {request.node_id}")
            if node.meta.version != request.version:
                raise StaleVersion(
                    f"node {node.description.hostname} was changed meanwhile; read it and retry"
                )
            if role is not None and role != node.role:
                self._check_role_change(view, node, role)
            updated = replace(node, availability=availability, labels=labels)
            return [Put(replace(updated, role=role) if role is not None else updated)]

        stored = await self._write_one(
            plan,
            "node updated",
            availability=availability.name.lower(),
            role=role.name.lower() if role is not None else "unchanged",
        )
        assert isinstance(stored, Node)
        return self._node_response(stored)

    def _check_role_change(self, view: ReadView, node: Node, role: NodeRole) -> None:
        if role == NodeRole.MANAGER and not self._shared_store:
            raise FailedPrecondition(
                "this cluster keeps its state in SQLite on one manager: move it onto etcd first"
                " (restart the manager with --store etcd://HOST:2379), then promote nodes"
            )
        if role == NodeRole.WORKER and _managers(view) == [node]:
            raise FailedPrecondition("attempting to demote the last manager of the cluster")

    @unary_errors
    async def RemoveNode(
        self, request: pb.RemoveNodeRequest, context: Any
    ) -> pb.RemoveNodeResponse:
        def plan(view: ReadView) -> Sequence[Op]:
            node = resolve_node(view, request.ref)
            if node.id == self._self_node_id:
                raise Conflict("the manager's own node cannot be removed")
            if node.role == NodeRole.MANAGER and node.state != NodeState.DOWN:
                # As docker: a manager that is up leaves the manager set by demotion only,
                # --force or not; one that is down is removed from it with its node.
                raise FailedPrecondition(
                    f"node {node.description.hostname or node.id} is a manager that is not down:"
                    " demote it to a worker first (`shoal node demote`)"
                )
            if node.role == NodeRole.MANAGER and _managers(view) == [node]:
                raise FailedPrecondition("attempting to remove the last manager of the cluster")
            if node.state != NodeState.DOWN and not request.force:
                raise Conflict(
                    f"node {node.description.hostname or node.id} is not down:"
                    " stop its agent first, or use --force to remove it anyway"
                )
            return [Delete(node)]

        removed = await self._write_one(plan, "node removed", forced=request.force)
        return pb.RemoveNodeResponse(id=removed.id)


def _managers(view: ReadView) -> list[Node]:
    return [n for n in view.objects(Node) if n.role == NodeRole.MANAGER]
