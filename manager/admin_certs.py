"""`shoal admin-cert --rotate`: a new admin certificate, and every older one revoked; and
`shoal ca --rotate`: a new root CA the cluster moves onto (manager/ca_rotation.py).

Admin certificates carry the generation they were issued in; the cluster records the current
one, and the authenticator refuses admin certificates of an older generation. A rotation is one
store write, so every manager sharing the store refuses the old certificates at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any

import structlog

from common import pki
from common.api import admin_pb2 as pb
from common.api import admin_pb2_grpc
from common.grpc_errors import unary_errors
from common.model import Cluster, Node
from manager import ca_rotation
from manager.auth import Authenticator
from manager.ca import ADMIN_LIFETIME
from manager.data_key import DataKey
from manager.store import Op, Put, ReadView, StateStore
from manager.trust import ClusterTrust

log = structlog.get_logger("manager.admin")


class AdminCertificates(admin_pb2_grpc.AdminCertificatesServicer):
    def __init__(
        self, store: StateStore, trust: ClusterTrust, cluster_id: str, data_key: DataKey
    ) -> None:
        self._store = store
        self._trust = trust
        self._cluster_id = cluster_id
        self._data_key = data_key
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

        (stored,) = await self._store.transact(plan, urgent=True)
        assert isinstance(stored, Cluster)
        cert = self._trust.signer.issue(
            public_key,
            "admin",
            pki.ROLE_ADMIN,
            self._cluster_id,
            ADMIN_LIFETIME,
            generation=stored.admin_generation,
        )
        log.info("admin certificate rotated", generation=stored.admin_generation)
        return pb.RotateAdminCertificateResponse(
            ca_pem=self._trust.roots_pem, cert_pem=pki.cert_pem(cert)
        )

    @unary_errors
    async def RotateCA(self, request: pb.RotateCARequest, context: Any) -> pb.RotateCAResponse:
        self._auth.admin(context)
        public_key = pki.public_key_of_csr(request.csr_pem)
        expiry = (
            timedelta(seconds=request.cert_expiry_seconds) if request.cert_expiry_seconds else None
        )
        root = self._trust.root

        def plan(view: ReadView) -> Sequence[Op]:
            cluster = view.objects(Cluster)[0]
            return [Put(ca_rotation.begin(cluster, root, self._data_key, expiry))]

        (stored,) = await self._store.transact(plan, urgent=True)
        assert isinstance(stored, Cluster)
        assert stored.rotation is not None
        rotation = stored.rotation
        new = ca_rotation.open_key(rotation.ca_cert_pem, rotation.ca_key_sealed, self._data_key)
        cert = new.issue(
            public_key,
            "admin",
            pki.ROLE_ADMIN,
            self._cluster_id,
            ADMIN_LIFETIME,
            generation=stored.admin_generation,
        )
        log.info("CA rotation begun", generation=stored.ca_generation)
        return pb.RotateCAResponse(
            ca_pem=rotation.ca_cert_pem + rotation.old_cert_pem, cert_pem=pki.cert_pem(cert)
        )

    @unary_errors
    async def CAStatus(self, request: pb.CAStatusRequest, context: Any) -> pb.CAStatusResponse:
        self._auth.admin(context)
        cluster = self._store.objects(Cluster)[0]
        progress = ca_rotation.progress(cluster, self._store.objects(Node))
        roots = self._trust.roots_pem
        if cluster.rotation is None and cluster.ca_cert_pem:
            roots = cluster.ca_cert_pem
        return pb.CAStatusResponse(
            rotating=cluster.rotation is not None,
            moved=progress.moved,
            total=progress.total,
            pending=progress.pending,
            ca_pem=roots,
        )
