"""The Control API's calls on the cluster itself: its join tokens and autolock."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from common import convert, tokens
from common.api import control_pb2 as pb
from common.errors import FailedPrecondition
from common.grpc_errors import unary_errors
from common.key_files import Kek
from common.model import Cluster, NodeRole
from manager import autolock, join_secrets
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

        await self._store.transact(plan, urgent=True)
        if request.rotate:
            log.info("join token rotated", role=role.name.lower())
        cluster = self._store.objects(Cluster)[0]
        token = join_secrets.token(self._data_key, cluster, role)
        return pb.GetJoinTokenResponse(token=str(token), manager_addr=self._manager_addr)

    @unary_errors
    async def UpdateAutolock(
        self, request: pb.UpdateAutolockRequest, context: Any
    ) -> pb.UnlockKeyResponse:
        """On: a new key, returned once (nothing when it was on already). Off: every manager
        (manager.autolock.AutolockSync) writes its key files in the clear again."""
        if request.autolock:
            kek = await autolock.turn_on(self._store, self._data_key)
            if kek is None:
                return pb.UnlockKeyResponse()
            log.info("autolock turned on")
            return pb.UnlockKeyResponse(unlock_key=kek.unlock_key)

        def plan(view: ReadView) -> Sequence[Op]:
            (cluster,) = view.objects(Cluster)
            if not cluster.autolock:
                return []
            return [Put(replace(cluster, sealed_unlock_key=b""))]

        if await self._store.transact(plan, urgent=True):
            log.info("autolock turned off")
        return pb.UnlockKeyResponse()

    @unary_errors
    async def GetUnlockKey(
        self, request: pb.GetUnlockKeyRequest, context: Any
    ) -> pb.UnlockKeyResponse:
        kek = Kek.generate()

        def plan(view: ReadView) -> Sequence[Op]:
            (cluster,) = view.objects(Cluster)
            if not cluster.autolock:
                raise FailedPrecondition(
                    "no unlock key is set: autolock is off (shoal cluster update --autolock=true)"
                )
            if not request.rotate:
                return []
            sealed = autolock.seal(self._data_key, cluster.id, kek)
            return [Put(replace(cluster, sealed_unlock_key=sealed))]

        await self._store.transact(plan, urgent=True)
        if request.rotate:
            log.info("unlock key rotated")
            return pb.UnlockKeyResponse(unlock_key=kek.unlock_key)
        current = autolock.kek_of(self._data_key, self._store.objects(Cluster)[0])
        if current is None:
            raise FailedPrecondition("no unlock key is set: autolock is off")
        return pb.UnlockKeyResponse(unlock_key=current.unlock_key)

    @unary_errors
    async def UnlockManager(
        self, request: pb.UnlockManagerRequest, context: Any
    ) -> pb.UnlockManagerResponse:
        # A locked manager answers this on its socket (manager.locked); this one serves.
        raise FailedPrecondition("this manager is not locked")
