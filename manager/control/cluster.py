"""The Control API's calls on the cluster itself: its join tokens."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from common import convert, tokens
from common.api import control_pb2 as pb
from common.grpc_errors import unary_errors
from common.model import Cluster, NodeRole
from manager import join_secrets
from manager.control.base import ControlBase, log
from manager.store import Op, Put, ReadView


class ClusterCalls(ControlBase):
    @unary_errors
    async def GetJoinToken(
        self, request: pb.GetJoinTokenRequest, context: Any
    ) -> pb.GetJoinTokenResponse:
        role = convert.enum_from_pb(NodeRole, request.role, "role")

        def plan(view: ReadView) -> Sequence[Op]:
            cluster = view.objects(Cluster)[0]
            if not request.rotate:
                return []
            secret = tokens.new_secret()
            return [Put(join_secrets.with_secret(self._data_key, cluster, role, secret))]

        await self._store.transact(plan)
        if request.rotate:
            log.info("join token rotated", role=role.name.lower())
        cluster = self._store.objects(Cluster)[0]
        token = join_secrets.token(self._data_key, cluster, role)
        return pb.GetJoinTokenResponse(token=str(token), manager_addr=self._manager_addr)
