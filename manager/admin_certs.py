"""`shoal admin-cert --rotate`: a new admin certificate, and every older one revoked.

Admin certificates carry the generation they were issued in; the cluster records the current
one, and the authenticator refuses admin certificates of an older generation. A rotation is one
store write, so every manager sharing the store refuses the old certificates at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import structlog

from common import pki
from common.api import admin_pb2 as pb
from common.api import admin_pb2_grpc
from common.grpc_errors import unary_errors
from common.model import Cluster
from manager.auth import Authenticator
from manager.ca import ADMIN_LIFETIME, ClusterCA
from manager.store import Op, Put, ReadView, StateStore

log = structlog.get_logger("manager.admin")


class AdminCertificates(admin_pb2_grpc.AdminCertificatesServicer):
    def __init__(self, store: StateStore, ca: ClusterCA, cluster_id: str) -> None:
        self._store = store
        self._ca = ca
        self._cluster_id = cluster_id
        self._auth = Authenticator(store, cluster_id)

    @unary_errors
    async def Rotate(
        self, request: pb.RotateAdminCertificateRequest, context: Any
    ) -> pb.RotateAdminCertificateResponse:
        self._auth.admin(context)
        public_key = pki.public_key_of_csr(request.csr_pem)

        def plan(view: ReadView) -> Sequence[Op]:
            cluster = view.objects(Cluster)[0]
            return [Put(replace(cluster, admin_generation=cluster.admin_generation + 1))]

        (stored,) = await self._store.transact(plan)
        assert isinstance(stored, Cluster)
        cert = self._ca.issue(
            public_key,
            "admin",
            pki.ROLE_ADMIN,
            self._cluster_id,
            ADMIN_LIFETIME,
            generation=stored.admin_generation,
        )
        log.info("admin certificate rotated", generation=stored.admin_generation)
        return pb.RotateAdminCertificateResponse(ca_pem=self._ca.pem, cert_pem=pki.cert_pem(cert))
